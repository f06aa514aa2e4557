import dgram from "node:dgram";
import { Resolver } from "node:dns/promises";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";
import type { ResolveUpstream } from "../../src/proxy/upstreamGuard.js";

/**
 * A DNS server on 127.0.0.1 answering A queries from `answers` (name → the address for the n-th
 * query of it); AAAA and unknown names get an empty answer. Counts the queries of each name.
 */
export async function dnsStub(answers: Record<string, (n: number) => string>) {
  const queries: Record<string, number> = {};
  const server = dgram.createSocket("udp4");
  server.on("message", (query, peer) => {
    let at = 12;
    const labels: string[] = [];
    while (query[at]! > 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString());
      at += query[at]! + 1;
    }
    const question = query.subarray(12, at + 5);
    const name = labels.join(".").toLowerCase();
    const type = query.readUInt16BE(at + 1);
    const n = (queries[name] = (queries[name] ?? 0) + 1);
    const address = type === 1 ? answers[name]?.(n) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(address ? 1 : 0, 6);
    const answer = address ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]), Buffer.from(address.split(".").map(Number))]) : Buffer.alloc(0);
    server.send(Buffer.concat([header, question, answer]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([address]);
  /** The proxy's `resolveUpstream` over this stub: every name is asked of it, over real DNS packets. */
  const resolve: ResolveUpstream = async (hostname) => (await resolver.resolve4(hostname)).map((a) => ({ address: a, family: 4 }));
  return { address, queries, resolve, close: () => server.close() };
}

/**
 * The names every guard test needs under `domain`: `loopback.`, `private.`, `metadata.` (the cloud
 * metadata address) and `rebind.`, which answers a public-looking address (TEST-NET-3) the first
 * time and this host's loopback (where a request past the guard would land) from then on.
 */
export const guardAnswers = (domain: string): Record<string, (n: number) => string> => ({
  [`loopback.${domain}`]: () => "127.0.0.1",
  [`private.${domain}`]: () => "10.1.2.3",
  [`metadata.${domain}`]: () => "169.254.169.254",
  [`rebind.${domain}`]: (n) => (n === 1 ? "203.0.113.7" : "127.0.0.1"),
});

/**
 * A stub answering `guardAnswers(domain)` for the enclosing describe: listening before its tests,
 * closed after them. Call it before any fixture whose set-up resolves through it.
 */
export function useDnsStub(domain: string) {
  let stub: Awaited<ReturnType<typeof dnsStub>> | undefined;
  beforeAll(async () => {
    stub = await dnsStub(guardAnswers(domain));
  });
  afterAll(() => stub?.close());
  const now = () => stub ?? (() => { throw new Error(`the DNS stub for ${domain} is used before its beforeAll ran`); })();
  return {
    get queries() { return now().queries; },
    resolve: ((hostname) => now().resolve(hostname)) satisfies ResolveUpstream,
  };
}
