import http from "node:http";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { useProxy } from "../helpers/proxyFixture.js";
import { canary } from "../helpers/env.js";

/**
 * An upstream answering every request with `Keep-Alive: timeout=<path's number>` (none for
 * `/v1/none`), counting the connections it accepted; it never closes one itself.
 */
function countingUpstream() {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    let pending = "";
    socket.on("data", (data: Buffer) => {
      pending += data.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end !== -1; end = pending.indexOf("\r\n\r\n")) {
        const target = pending.slice(0, end).split(" ")[1] ?? "";
        pending = pending.slice(end + 4);
        const seconds = /\/v1\/keep-(\d+)/.exec(target)?.[1];
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\n${seconds ? `keep-alive: timeout=${seconds}\r\n` : ""}\r\nok`);
      }
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise<{ url: string; connections(): number; close(): void }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        connections: () => connections,
        close: () => {
          for (const socket of sockets) socket.destroy();
          server.close();
        },
      }),
    ),
  );
}

function get(base: string, path: string, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { agent: false, headers: { "x-api-key": key } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Issue 23 item 4: the proxy keeps an idle upstream connection as long as the upstream says it
 * will (`Keep-Alive: timeout=N`, less a second, at most a minute), so a pause longer than the
 * default 4 s does not cost a new connection, and one the upstream keeps a second or less is not
 * pooled at all (it would be reused as the upstream closes it).
 */
describe("idle upstream connections and the upstream's Keep-Alive timeout", () => {
  const rig = useProxy("authctl-upstream-keepalive-", {
    upstream: countingUpstream,
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: canary("sk-ant-") }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], methods: ["GET"] } } } }),
  });

  it("an upstream that keeps connections 30 s gets its connection reused after a 5 s pause", async () => {
    const phantom = rig.phantom("anthropic", "keepalive-long");
    const before = rig.upstream.connections();
    expect(await get(rig.url, "/v1/keep-30", phantom)).toBe(200);
    await sleep(5_000);
    expect(await get(rig.url, "/v1/keep-30", phantom)).toBe(200);
    expect(rig.upstream.connections() - before).toBe(1);
  }, 20_000);

  it("without a Keep-Alive timeout the pool keeps a connection 4 s; with timeout=1, not at all", async () => {
    const phantom = rig.phantom("anthropic", "keepalive-short");
    expect(await get(rig.url, "/v1/none", phantom)).toBe(200);
    const before = rig.upstream.connections();
    await sleep(4_500);
    // The connection of /v1/none is gone after 4 s; each /v1/keep-1 gets a new one.
    expect(await get(rig.url, "/v1/keep-1", phantom)).toBe(200);
    expect(await get(rig.url, "/v1/keep-1", phantom)).toBe(200);
    expect(rig.upstream.connections() - before).toBe(2);
  }, 20_000);
});
