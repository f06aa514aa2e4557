import http from "node:http";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { useProxy } from "../helpers/proxyFixture.js";
import { canary } from "../helpers/env.js";
import { rng, seedFromEnv } from "../helpers/prng.js";

const realKey = canary("sk-ant-");

/** What the raw upstream writes for a path: the bytes after the head, and how to cut them into writes. */
interface Script {
  body: string;
  /** Sizes of the successive writes (the last one takes the rest). */
  pieces: number[];
}

/**
 * An upstream speaking HTTP/1.1 by hand, writing a chunked answer in the pieces the script gives,
 * each its own write a turn of the event loop after the last, so the proxy reads the framing cut anywhere: in a
 * chunk-size line, between CR and LF, inside an extension, inside the secret.
 */
function piecewiseUpstream(script: (path: string, key: string) => Script) {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let pending = "";
    socket.on("data", async (data: Buffer) => {
      pending += data.toString("latin1");
      const end = pending.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      const target = head.split(" ")[1] ?? "";
      const key = /^x-api-key: *(.*)$/im.exec(head)?.[1]?.trim() ?? "";
      const { body, pieces } = script(target.split("?")[0]!, key);
      const bytes = Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n${body}`, "latin1");
      let at = 0;
      for (const size of pieces) {
        if (at >= bytes.length || socket.destroyed) break;
        socket.write(bytes.subarray(at, (at += size)));
        await new Promise(setImmediate);
      }
      if (at < bytes.length && !socket.destroyed) socket.write(bytes.subarray(at));
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise<{ url: string; close(): void }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => {
          for (const socket of sockets) socket.destroy();
          server.close();
        },
      }),
    ),
  );
}

const chunk = (text: string, extension = "") => `${Buffer.byteLength(text).toString(16)}${extension}\r\n${text}\r\n`;

/** A body of many small chunks (the secret in the fourth), sizes in upper- and lower-case hex, some with extensions, a trailer at the end. */
function manyChunks(key: string): string {
  const parts: string[] = [];
  for (let i = 0; i < 40; i++) {
    const text = i === 3 ? `{"seen":"${key}"}` : `event ${i}: ${"x".repeat(i * 7)}\n`;
    const line = chunk(text, i % 5 === 0 ? ` ;name=value${i}` : i % 7 === 0 ? ";ext" : "");
    parts.push(i % 2 ? line.replace(/^[0-9a-f]+/, (hex) => hex.toUpperCase()) : line);
  }
  return `${parts.join("")}0\r\nx-trailer: ${key}\r\n\r\n`;
}

function fetch(base: string, path: string, key: string): Promise<{ status: number; body: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { agent: false, headers: { "x-api-key": key } }, (res) => {
      let body = "";
      let complete = false;
      res.on("data", (d: Buffer) => (body += d.toString("latin1")));
      res.on("end", () => (complete = true));
      res.on("error", () => undefined);
      res.on("close", () => resolve({ status: res.statusCode!, body, complete: complete && !res.errored }));
    });
    req.on("error", reject);
    req.end();
  });
}

const decoded = (key: string, phantom: string) =>
  Array.from({ length: 40 }, (_, i) => (i === 3 ? `{"seen":"${key}"}` : `event ${i}: ${"x".repeat(i * 7)}\n`)).join("").replace(key, phantom);

/**
 * Issue 23 item 4: the proxy decodes a chunked answer itself, byte by byte, whatever the reads
 * it arrives in: every cut of the framing gives the same body, the secret is scrubbed across
 * reads and chunks, trailers are not passed on, and framing that is not HTTP/1.1 gives the
 * client a cut answer, never a complete one.
 */
describe("a chunked answer read in pieces", () => {
  const seed = seedFromEnv(234);
  const random = rng(seed);
  const bad: Record<string, string> = {
    "/v1/blank-before-crlf": "5 \r\nhello\r\n0\r\n\r\n",
    "/v1/not-hex": "5g\r\nhello\r\n0\r\n\r\n",
    "/v1/thirteen-digits": "0000000000005\r\nhello\r\n0\r\n\r\n",
    "/v1/bare-lf": "5\nhello\r\n0\r\n\r\n",
    "/v1/cr-in-extension": "5;a\rb\r\nhello\r\n0\r\n\r\n",
    "/v1/data-overruns": "5\r\nhello!\r\n0\r\n\r\n",
    "/v1/no-size": "\r\nhello\r\n0\r\n\r\n",
  };
  const rig = useProxy("authctl-relay-chunked-", {
    upstream: () =>
      piecewiseUpstream((path, key) => {
        if (path === "/v1/bytewise") return { body: manyChunks(key), pieces: Array(700).fill(1) };
        if (path === "/v1/random") return { body: manyChunks(key), pieces: Array.from({ length: 200 }, () => random.range(1, 40)) };
        if (path === "/v1/whole") return { body: manyChunks(key), pieces: [] };
        return { body: bad[path] ?? "0\r\n\r\n", pieces: [3, 1, 1] };
      }),
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], methods: ["GET"] } } } }),
  });

  it(`arrives whole and scrubbed in one read, in 1-byte reads and in random cuts (seed ${seed})`, async () => {
    const phantom = rig.phantom("anthropic", "chunked-reads");
    for (const path of ["/v1/whole", "/v1/bytewise", "/v1/random"]) {
      const seen = await fetch(rig.url, path, phantom);
      expect({ path, ...seen }).toEqual({ path, status: 200, body: decoded(realKey, phantom), complete: true });
      expect(seen.body).not.toContain(realKey);
    }
  }, 60_000);

  it("framing that is not HTTP/1.1 chunking is a cut answer, never a complete one", async () => {
    const phantom = rig.phantom("anthropic", "chunked-bad");
    for (const path of Object.keys(bad)) {
      // Cut before the head reached the client, or after.
      const seen = await fetch(rig.url, path, phantom).catch(() => ({ complete: false }));
      expect({ path, complete: seen.complete }).toEqual({ path, complete: false });
    }
    // The proxy goes on answering.
    expect(await fetch(rig.url, "/v1/whole", phantom)).toMatchObject({ status: 200, complete: true });
  }, 60_000);
});
