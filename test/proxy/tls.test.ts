import { X509Certificate } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { UsageError } from "../../src/core/errors.js";
import { localCa } from "../../src/proxy/localCa.js";
import { listenProxy } from "../../src/proxy/server.js";
import { baseEnv } from "../helpers/context.js";
import { canary, tempHome } from "../helpers/env.js";
import { type FakeHandler, fakeUpstream, wsFrame } from "../helpers/fake-upstream.js";
import { useProxy } from "../helpers/proxyFixture.js";

const DAY = 24 * 60 * 60 * 1000;
const now = { t: Date.now() };
const clock = { now: () => now.t };

interface Answer {
  status: number;
  body: string;
  serial?: string;
}

/** One request over TLS (trusting only `ca`) or plain HTTP, over TCP or a Unix socket. */
function ask(target: { url?: string; socketPath?: string }, path: string, headers: Record<string, string>, ca?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { path, method: "GET", headers, agent: false as const, ...(target.socketPath ? { socketPath: target.socketPath } : {}) };
    const send = ca ? https.request : http.request;
    const url = target.url ?? (ca ? "https://localhost" : "http://localhost");
    const req = send(url, { ...options, ...(ca ? { ca, servername: "localhost" } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      const serial = ca ? (res.socket as import("node:tls").TLSSocket).getPeerCertificate().serialNumber : undefined;
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), serial }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the proxy's TLS: a per-home local CA, TLS and plain HTTP on one listener", () => {
  const realKey = canary("sk-");
  let caPem = "";
  const vendor: FakeHandler = (req, res) => {
    if (req.url === "/routing") {
      const body = { accounts: [{ id: "w", workspace_backend_origin: "https://elsewhere.example", nested: { workspace_backend_origin: "https://x.example" } }] };
      return void res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" }).end(gzipSync(JSON.stringify(body)));
    }
    if (req.url === "/routing-broken") return void res.writeHead(200, { "content-type": "application/json" }).end("<html>not json");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ key: req.headers.authorization === `Bearer ${realKey}` }));
  };
  const rewrites = [{ path: "/routing", field: "workspace_backend_origin", value: "NO_CONSTRAINT" }, { path: "/routing-broken", field: "x", value: "y" }];
  const rig = useProxy("authctl-proxy-tls-", {
    clock,
    upstream: () => fakeUpstream(vendor, { acceptWebSocket: true }),
    seed: (store) => store.put("default", "openai", "api_key", { type: "api_key", key: realKey }, { preview: "sk-…" }),
    proxy: (upstream) => ({ upstreams: { openai: { api_key: { base_url: upstream.url, allow_paths: ["/"], response_rewrites: rewrites } } } }),
    listen: ({ context, home }) => {
      const ca = localCa({ context });
      caPem = ca.certificatePem;
      return { port: 0, socketPath: join(home, "proxy.sock"), tls: { identity: () => ca.issueServerIdentity() } };
    },
  });
  const { home } = rig;

  const phantom = (session: string) => ({ authorization: `Bearer ${rig.phantom("openai", session)}` });

  it("keeps the CA key 0600 in a 0700 dir and only the certificate public; the CA is reused, not remade", () => {
    const dir = join(home, "proxy-ca");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "ca-key.pem")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, "ca.pem"), "utf8")).toBe(caPem);
    expect(readFileSync(join(dir, "ca.pem"), "utf8")).not.toContain("PRIVATE KEY");
    expect(localCa({ context: rig.context }).certificatePem).toBe(caPem);
  });

  it("answers TLS (trusting only the CA) and plain HTTP on the same TCP port and on the Unix socket", async () => {
    expect(rig.listening.tlsUrl).toBe(rig.listening.url!.replace("http:", "https:"));
    const onSocket = { socketPath: rig.listening.socketPath! };
    const before = rig.upstream.arrivals.length;
    for (const [target, ca] of [[{ url: rig.listening.tlsUrl }, caPem], [{ url: rig.listening.url }, undefined], [onSocket, caPem], [onSocket, undefined]] as const) {
      const answer = await ask(target, "/v1/models", phantom("tls-both"), ca);
      expect(answer).toMatchObject({ status: 200, body: '{"key":true}' });
    }
    // Each request is forwarded once (a TLS connection reaches its own listener's parser only).
    expect(rig.upstream.arrivals.length - before).toBe(4);
    await expect(ask({ url: rig.listening.tlsUrl }, "/v1/models", phantom("tls-untrusted"), readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8"))).rejects.toThrow(
      /self[- ]signed|unable to (get|verify)/i,
    );
  });

  it("bridges a WebSocket upgrade over TLS, on the TCP port and the Unix socket (Codex opens one first in ChatGPT mode)", async () => {
    const upgradeOverTls = (target: { url?: string; socketPath?: string }, session: string) =>
      new Promise<string>((resolve, reject) => {
        const req = https.request(target.url ? `${target.url}/v1/responses` : "https://localhost/v1/responses", {
          ...(target.socketPath ? { socketPath: target.socketPath } : {}),
          ca: caPem,
          servername: "localhost",
          agent: false,
          headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", ...phantom(session) },
        });
        req.on("upgrade", (res, socket) => {
          expect(res.statusCode).toBe(101);
          expect((socket as import("node:tls").TLSSocket).encrypted).toBe(true);
          socket.once("data", (d: Buffer) => {
            socket.destroy();
            resolve(d.subarray(2).toString());
          });
          socket.write(wsFrame(`ping-over-tls-${session}`));
        });
        req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
        req.on("error", reject);
        req.end();
      });
    const before = rig.upstream.arrivals.length;
    expect(await upgradeOverTls({ url: rig.listening.tlsUrl }, "ws-tcp")).toBe("ping-over-tls-ws-tcp");
    expect(await upgradeOverTls({ socketPath: rig.listening.socketPath! }, "ws-sock")).toBe("ping-over-tls-ws-sock");
    const upgrades = rig.upstream.arrivals.slice(before).filter((a) => a.upgrade);
    expect(upgrades).toHaveLength(2);
    for (const arrival of upgrades) expect(arrival.headers.authorization).toBe(`Bearer ${realKey}`);
  });

  it("issues short-lived server certificates for 127.0.0.1/localhost only, and its name constraints refuse any other name", async () => {
    const ca = localCa({ context: rig.context });
    const leaf = new X509Certificate(ca.issueServerIdentity().cert);
    expect(leaf.subjectAltName).toBe("IP Address:127.0.0.1, DNS:localhost");
    expect(new Date(leaf.validTo).getTime() - now.t).toBeLessThanOrEqual(DAY);
    expect(leaf.verify(new X509Certificate(ca.certificatePem).publicKey)).toBe(true);

    // Sign a certificate for another host with the CA's own key: verifiers must still refuse it.
    const dir = join(home, "proxy-ca");
    const other = join(home, "other");
    await execa("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${other}.key`, "-out", `${other}.csr`, "-subj", "/CN=example.com"]);
    writeFileSync(`${other}.ext`, "subjectAltName=DNS:example.com\n");
    await execa("openssl", ["x509", "-req", "-in", `${other}.csr`, "-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca-key.pem"), "-out", `${other}.pem`, "-days", "1", "-extfile", `${other}.ext`]);
    const verdict = await execa("openssl", ["verify", "-CAfile", join(dir, "ca.pem"), `${other}.pem`], { reject: false, all: true });
    expect(verdict.exitCode).not.toBe(0);
    expect(verdict.all).toMatch(/permitted subtree violation/);
    writeFileSync(`${other}-ours.pem`, ca.issueServerIdentity().cert);
    const ours = await execa("openssl", ["verify", "-CAfile", join(dir, "ca.pem"), `${other}-ours.pem`], { reject: false, all: true });
    expect(ours.all).toContain(": OK");
  });

  it("renews the server certificate while serving", async () => {
    const ca = localCa({ context: rig.context });
    const renewing = await listenProxy(rig.proxy, { port: 0, tls: { identity: () => ca.issueServerIdentity(), renewMs: 150 } });
    try {
      const first = await ask({ url: renewing.tlsUrl }, "/v1/models", phantom("tls-renew"), caPem);
      await new Promise((r) => setTimeout(r, 400));
      const second = await ask({ url: renewing.tlsUrl }, "/v1/models", phantom("tls-renew-2"), caPem);
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.serial).not.toBe(first.serial);
    } finally {
      await renewing.close();
    }
  });

  it("cuts off a client that connects and never sends a byte (before TLS or HTTP starts)", async () => {
    const strict = await listenProxy(rig.proxy, { port: 0, headersTimeoutMs: 300, tls: { identity: () => localCa({ context: rig.context }).issueServerIdentity() } });
    try {
      const silent = connect(Number(new URL(strict.url!).port), "127.0.0.1");
      silent.on("error", () => {});
      const started = Date.now();
      await new Promise((resolve) => silent.on("close", resolve));
      expect(Date.now() - started).toBeLessThan(3000);
      expect((await ask({ url: strict.tlsUrl }, "/v1/models", phantom("tls-after-silent"), caPem)).status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it("rewrites a routing answer (gzip decoded, every such field) and refuses one it cannot read with 502", async () => {
    const answer = await ask({ url: rig.listening.tlsUrl }, "/routing", phantom("tls-rewrite"), caPem);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ accounts: [{ id: "w", workspace_backend_origin: "NO_CONSTRAINT", nested: { workspace_backend_origin: "NO_CONSTRAINT" } }] });
    expect(rig.upstream.arrivals.at(-1)!.headers["accept-encoding"]).toBe("identity");
    const broken = await ask({ url: rig.listening.url }, "/routing-broken", phantom("tls-rewrite-2"));
    expect(broken.status).toBe(502);
    expect(broken.body).not.toContain("not json");
  });

  it("a damaged CA file is named with what to do, and left as it was; a CA near its end is replaced", () => {
    const other = tempHome("authctl-proxy-ca-");
    try {
      const ctx = new Authctl({ home: other.home, env: baseEnv(), clock });
      const first = localCa({ context: ctx });
      const keyFile = join(other.home, "proxy-ca", "ca-key.pem");
      const text = readFileSync(keyFile, "utf8");
      writeFileSync(keyFile, text.slice(0, 100));
      expect(() => localCa({ context: ctx })).toThrow(UsageError);
      expect(() => localCa({ context: ctx })).toThrow(/ca-key\.pem is not a usable authctl proxy CA .*delete it/);
      expect(readFileSync(keyFile, "utf8")).toBe(text.slice(0, 100));
      writeFileSync(keyFile, text);
      now.t += 340 * DAY;
      try {
        const renewed = localCa({ context: ctx });
        expect(renewed.certificatePem).not.toBe(first.certificatePem);
        expect(renewed.notAfter.getTime()).toBeGreaterThan(now.t + 300 * DAY);
        expect(readFileSync(join(other.home, "proxy-ca", "ca.pem"), "utf8")).toBe(renewed.certificatePem);
      } finally {
        now.t -= 340 * DAY;
      }
    } finally {
      other.cleanup();
    }
  });
});
