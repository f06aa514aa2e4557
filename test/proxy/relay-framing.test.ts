import http from "node:http";
import { createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { canary } from "../helpers/env.js";
import { listenLoopback, useProxy } from "../helpers/proxyFixture.js";

type Answer = (socket: Socket, path: string, method: string, key: string) => void;

/**
 * An upstream that speaks HTTP/1.1 by hand over node:net, so each answer's framing is exactly as
 * written (node:http would fix a broken one): `answer` gets the request's path, method and the
 * key it carried, and writes the response on the raw socket, in pieces when it wants to.
 */
async function rawUpstream(answer: Answer) {
  const server = createServer((socket) => {
    let pending = "";
    socket.on("data", (data: Buffer) => {
      pending += data.toString("latin1");
      // Requests through the proxy here carry no body: each head is one request.
      for (let end = pending.indexOf("\r\n\r\n"); end !== -1; end = pending.indexOf("\r\n\r\n")) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const [method = "", target = ""] = head.split(" ");
        const key = /^x-api-key: *(.*)$/im.exec(head)?.[1]?.trim() ?? "";
        answer(socket, target.split("?")[0]!, method, key);
      }
    });
    socket.on("error", () => socket.destroy());
  });
  return { url: await listenLoopback(server), close: () => new Promise((done) => server.close(done)) };
}

interface Seen {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The client read a whole, well-framed answer (its parser saw the end), not a cut one. */
  complete: boolean;
}

function fetch(agent: http.Agent, base: string, path: string, key: string, method = "GET"): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, agent, headers: { "x-api-key": key } }, (res) => {
      let body = "";
      let complete = false;
      res.on("data", (d: Buffer) => (body += d.toString("latin1")));
      res.on("end", () => (complete = true));
      res.on("error", () => undefined);
      res.on("close", () => resolve({ status: res.statusCode!, headers: res.headers, body, complete: complete && !res.errored }));
    });
    req.on("error", reject);
    req.end();
  });
}

const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

/**
 * Issue 23 item 4: however the proxy relays an answer's bytes, the client sees the upstream's
 * framing honoured: a body of a known length, a chunked one, one told by the connection's close,
 * none at all (HEAD, 204, 304) with the connection still usable, and an upstream that dies
 * mid-body as a cut answer, never a complete one. The secret is scrubbed even where the chunked
 * framing cuts it in two.
 */
describe("the proxy relays each response framing faithfully", () => {
  const realKey = canary("sk-ant-");
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const answer: Answer = (socket, path, _method, key) => {
    const head = (status: string, ...headers: string[]) => `HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`;
    if (path === "/v1/length") return void socket.write(head("200 OK", "content-length: 11", "content-type: text/plain") + "hello world");
    if (path === "/v1/chunked") {
      socket.write(head("200 OK", "transfer-encoding: chunked", "content-type: text/event-stream") + chunk("data: one\n\n"));
      return void setTimeout(() => socket.write(chunk("data: two\n\n") + "0\r\n\r\n"), 30);
    }
    if (path === "/v1/close") {
      socket.write(head("200 OK", "connection: close", "content-type: text/plain") + "told by ");
      return void setTimeout(() => socket.end("the close"), 30);
    }
    if (path === "/v1/head") return void socket.write(head("200 OK", "content-length: 1234", "content-type: text/plain"));
    if (path === "/v1/no-content") return void socket.write(head("204 No Content"));
    if (path === "/v1/not-modified") return void socket.write(head("304 Not Modified", "etag: \"e1\""));
    if (path === "/v1/cut-length") {
      socket.write(head("200 OK", "content-length: 1000") + "x".repeat(100));
      return void setTimeout(() => socket.destroy(), 30);
    }
    if (path === "/v1/cut-chunked") {
      socket.write(head("200 OK", "transfer-encoding: chunked") + chunk("partial"));
      return void setTimeout(() => socket.destroy(), 30);
    }
    if (path === "/v1/echo-across-chunks") {
      // The secret cut in two by the chunked framing itself, in one write: only the decoded body holds it whole.
      const at = Math.floor(key.length / 2);
      return void socket.write(head("200 OK", "transfer-encoding: chunked") + chunk(`{"seen":"${key.slice(0, at)}`) + chunk(`${key.slice(at)}"}`) + "0\r\n\r\n");
    }
    if (path === "/v1/echo-length") {
      const body = `{"seen":"${key}"}`;
      return void socket.write(head("200 OK", `content-length: ${Buffer.byteLength(body)}`) + body);
    }
    socket.write(head("404 Not Found", "content-length: 0"));
  };
  const rig = useProxy("authctl-relay-framing-", {
    upstream: () => rawUpstream(answer),
    seed: (store) => store.put("default", "anthropic", "api_key", { type: "api_key", key: realKey }, { preview: "sk-ant-…" }),
    proxy: (upstream) => ({ upstreams: { anthropic: { api_key: { base_url: upstream.url, allow_paths: ["/v1"], methods: ["GET", "HEAD"] } } } }),
  });
  rig.onTeardown(() => agent.destroy());

  const key = () => rig.phantom("anthropic", "relay");

  it("a content-length body, a chunked one and one told by the close arrive whole", async () => {
    const phantom = key();
    const length = await fetch(agent, rig.url, "/v1/length", phantom);
    expect(length).toMatchObject({ status: 200, body: "hello world", complete: true });
    const chunked = await fetch(agent, rig.url, "/v1/chunked", phantom);
    expect(chunked).toMatchObject({ status: 200, body: "data: one\n\ndata: two\n\n", complete: true });
    expect(chunked.headers["content-type"]).toBe("text/event-stream");
    const closed = await fetch(agent, rig.url, "/v1/close", phantom);
    expect(closed).toMatchObject({ status: 200, body: "told by the close", complete: true });
    // The connection to the proxy still carries the next request after each.
    expect(await fetch(agent, rig.url, "/v1/length", phantom)).toMatchObject({ status: 200, body: "hello world", complete: true });
  });

  it("HEAD, 204 and 304 carry no body, and the same client connection goes on", async () => {
    const phantom = key();
    const head = await fetch(agent, rig.url, "/v1/head", phantom, "HEAD");
    expect(head).toMatchObject({ status: 200, body: "", complete: true });
    expect(head.headers["content-length"]).toBe("1234");
    expect(await fetch(agent, rig.url, "/v1/no-content", phantom)).toMatchObject({ status: 204, body: "", complete: true });
    const notModified = await fetch(agent, rig.url, "/v1/not-modified", phantom);
    expect(notModified).toMatchObject({ status: 304, body: "", complete: true });
    expect(notModified.headers.etag).toBe('"e1"');
    expect(await fetch(agent, rig.url, "/v1/length", phantom)).toMatchObject({ status: 200, body: "hello world", complete: true });
  });

  it("an upstream that dies mid-body gives the client a cut answer, never a complete one", async () => {
    const phantom = key();
    const length = await fetch(agent, rig.url, "/v1/cut-length", phantom);
    expect(length.status).toBe(200);
    expect(length.complete).toBe(false);
    expect(length.body.length).toBeLessThan(1000);
    const chunked = await fetch(agent, rig.url, "/v1/cut-chunked", phantom);
    expect(chunked).toMatchObject({ status: 200, complete: false });
    // And the proxy goes on answering.
    expect(await fetch(agent, rig.url, "/v1/length", phantom)).toMatchObject({ status: 200, body: "hello world", complete: true });
  });

  it("the secret is scrubbed where the chunked framing cuts it, and from a body of a known length", async () => {
    const phantom = key();
    const across = await fetch(agent, rig.url, "/v1/echo-across-chunks", phantom);
    expect(across).toMatchObject({ status: 200, body: `{"seen":"${phantom}"}`, complete: true });
    const length = await fetch(agent, rig.url, "/v1/echo-length", phantom);
    expect(length).toMatchObject({ status: 200, body: `{"seen":"${phantom}"}`, complete: true });
    expect(across.body + length.body + JSON.stringify(across.headers) + JSON.stringify(length.headers)).not.toContain(realKey);
  });
});
