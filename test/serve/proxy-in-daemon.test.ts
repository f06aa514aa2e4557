import { execa, type ResultPromise } from "execa";
import { existsSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useCleanups } from "../helpers/cleanups.js";
import { authctl, canary, childEnv, CLI, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { routeProvider } from "../helpers/proxyFixture.js";
import { waitFor } from "../helpers/serve-cli.js";

/**
 * Issue 10 inside issue 9's daemon: `authctl serve` serves the credential service and the
 * credential proxy (one process, one lock, one audit log); `container-args` finds (or starts)
 * that daemon and mounts its proxy socket; every proxied request is a line in audit.jsonl.
 */
const cleanups = useCleanups();

let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
const REPLY = JSON.stringify({ id: "msg_1", content: [{ type: "text", text: "hello from upstream" }] });
beforeAll(async () => {
  upstream = await fakeUpstream((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(REPLY));
});
afterAll(() => upstream?.close());

/** A home holding an anthropic key (a canary), with anthropic's proxy upstream pointed at the fake. */
async function home() {
  const t = tempHome("authctl-proxyd-");
  cleanups.push(t.cleanup);
  const key = canary("sk-ant-");
  expect((await authctl(t.home, ["key", "anthropic", "--stdin"], { input: key })).exitCode).toBe(0);
  routeProvider(t.home, "anthropic", (entry) => void (entry.proxy.api_key!.base_url = upstream.url));
  const run = join(t.home, "run");
  return { ...t, key, serviceSocket: join(run, "authctl.sock"), proxySocket: join(run, "proxy.sock"), pidFile: join(run, "serve.pid") };
}

interface Listening {
  serviceSocket: string;
  proxySocket: string;
  url: string | null;
  auditLog: string;
}

/** `authctl <args…>` as a foreground daemon; resolves once it prints where it listens (--json). */
async function daemon(homeDir: string, args: string[]): Promise<{ process: ResultPromise; listening: Listening }> {
  const child = execa("node", [CLI, ...args, "--json"], { env: childEnv(homeDir), extendEnv: false, reject: false, stdin: "ignore" });
  cleanups.push(async () => {
    child.kill("SIGTERM");
    await child;
  });
  const listening = await new Promise<Listening>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("}")) resolve(JSON.parse(text) as Listening);
    });
    void child.then((r) => reject(new Error(`daemon exited: ${String(r.stderr)}`)));
  });
  return { process: child, listening };
}

async function phantomFor(homeDir: string, session: string): Promise<string> {
  const r = await authctl(homeDir, ["proxy", "client", "anthropic", "--session", session, "--base-url", "http://127.0.0.1:1", "--json"]);
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return (JSON.parse(String(r.stdout)) as { env: Record<string, string> }).env.ANTHROPIC_API_KEY!;
}

function post(target: { socketPath: string } | { url: string }, path: string, headers: Record<string, string>, body: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const options = { method: "POST", headers: { "content-type": "application/json", ...headers }, agent: false } as const;
    const req =
      "url" in target
        ? http.request(`${target.url}${path}`, options)
        : http.request({ ...options, socketPath: target.socketPath, path });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("the credential proxy inside `authctl serve`", () => {
  it("one daemon serves both: the proxy's 0600 socket beside the service socket, a 127.0.0.1 port, one lock", async () => {
    const h = await home();
    const { process: child, listening } = await daemon(h.home, ["serve", "--proxy-port", "0"]);
    expect(listening.serviceSocket).toBe(h.serviceSocket);
    expect(listening.proxySocket).toBe(h.proxySocket);
    expect(statSync(h.proxySocket).mode & 0o777).toBe(0o600);
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const status = JSON.parse(String((await authctl(h.home, ["serve", "status", "--json"])).stdout));
    expect(status).toMatchObject({ running: true, pid: child.pid, proxySocket: h.proxySocket, url: listening.url });

    const phantom = await phantomFor(h.home, "box-1");
    upstream.arrivals.splice(0);
    expect((await post({ socketPath: h.proxySocket }, "/v1/messages", { "x-api-key": phantom }, "{}")).status).toBe(200);
    expect((await post({ url: listening.url! }, "/v1/messages", { "x-api-key": phantom }, "{}")).status).toBe(200);
    expect(upstream.arrivals.map((a) => a.headers["x-api-key"])).toEqual([h.key, h.key]);

    // `proxy serve` is the same daemon: a second one for this home is refused by the one lock.
    const second = await authctl(h.home, ["proxy", "serve", "--port", "0"]);
    expect(second.exitCode).not.toBe(0);
    expect(String(second.stderr)).toMatch(new RegExp(`already running for this home \\(pid ${child.pid}\\)`));

    child.kill("SIGTERM");
    expect((await child).exitCode).toBe(0);
    expect([h.serviceSocket, h.proxySocket, h.pidFile].filter((p) => existsSync(p))).toEqual([]);
  });

  it("every proxied request is a line in audit.jsonl (session, set, provider, method, path, status, bytes, duration), never a header, body or token", async () => {
    const h = await home();
    await daemon(h.home, ["proxy", "serve"]);
    const phantom = await phantomFor(h.home, "box-audit");
    const bodyCanary = canary("body-");
    const sent = JSON.stringify({ messages: [{ role: "user", content: bodyCanary }] });
    const reply = await post({ socketPath: h.proxySocket }, "/v1/messages?beta=true", { "x-api-key": phantom, "x-custom": canary("header-") }, sent);
    expect(reply.status).toBe(200);
    const stranger = await post({ socketPath: h.proxySocket }, "/v1/messages", { "x-api-key": "authctl-phantom-made-up" }, "{}");
    expect(stranger.status).toBe(401);
    const offPath = await post({ socketPath: h.proxySocket }, "/v1/admin", { "x-api-key": phantom }, "{}");
    expect(offPath.status).toBe(403);

    const path = join(h.home, "audit.jsonl");
    const proxied = () => readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.op === "proxy");
    await waitFor(() => proxied().length >= 3, "three proxy lines in audit.jsonl");
    const [forwarded, unknown, refused] = proxied();
    expect(forwarded).toMatchObject({
      actor: "session:box-audit",
      op: "proxy",
      target: "default:anthropic",
      allowed: true,
      method: "POST",
      path: "/v1/messages",
      status: 200,
      bytesIn: Buffer.byteLength(sent),
      bytesOut: Buffer.byteLength(REPLY),
    });
    expect(typeof forwarded!.durationMs).toBe("number");
    expect(unknown).toMatchObject({ actor: "anonymous", allowed: false, status: 401, path: "/v1/messages" });
    expect(refused).toMatchObject({ actor: "session:box-audit", target: "default:anthropic", allowed: false, status: 403, path: "/v1/admin" });

    const log = readFileSync(path, "utf8");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    for (const secret of [h.key, phantom, bodyCanary, "hello from upstream", "x-custom", "beta=true"]) expect(log).not.toContain(secret);
    expect(existsSync(join(h.home, "proxy-audit.log"))).toBe(false);
    const shown = String((await authctl(h.home, ["audit"])).stdout);
    expect(shown).toMatch(/session:box-audit\s+proxy\s+default:anthropic POST \/v1\/messages\s+allowed 200, \d+ B in, \d+ B out/);
    expect(shown).not.toContain(h.key);
  });

  it("container-args starts the daemon on demand and mounts its proxy socket; run's on-demand daemon serves the proxy too", async () => {
    const h = await home();
    cleanups.push(() => authctl(h.home, ["serve", "stop"]));
    const r = await authctl(h.home, ["container-args", "anthropic", "--project", "default", "--json"]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const agent = JSON.parse(String(r.stdout)) as { sessionId: string; mounts: Array<{ host: string; container: string }>; env: Record<string, string> };
    expect(agent.mounts[0]).toMatchObject({ host: h.proxySocket, container: "/run/authctl/proxy.sock" });
    const status = JSON.parse(String((await authctl(h.home, ["serve", "status", "--json"])).stdout));
    expect(status).toMatchObject({ running: true, proxySocket: h.proxySocket });
    // The session's phantom works through the socket the container would get.
    expect((await post({ socketPath: h.proxySocket }, "/v1/messages", { "x-api-key": agent.env.ANTHROPIC_API_KEY! }, "{}")).status).toBe(200);
    expect((await authctl(h.home, ["proxy", "revoke", agent.sessionId])).exitCode).toBe(0);
    expect((await authctl(h.home, ["serve", "stop"])).exitCode).toBe(0);

    const viaRun = await authctl(h.home, ["run", "--", "true"]);
    expect(viaRun.exitCode, String(viaRun.stderr)).toBe(0);
    const again = JSON.parse(String((await authctl(h.home, ["serve", "status", "--json"])).stdout));
    expect(again).toMatchObject({ running: true, proxySocket: h.proxySocket });
  });

  it("an idle-exit daemon stays up while a session's phantoms are live, and goes once they are revoked", async () => {
    const h = await home();
    await phantomFor(h.home, "box-live");
    const { process: child } = await daemon(h.home, ["serve", "--idle-exit", "1"]);
    await new Promise((r) => setTimeout(r, 2500));
    expect(child.exitCode).toBeNull();
    expect((await authctl(h.home, ["proxy", "revoke", "box-live"])).exitCode).toBe(0);
    const done = await Promise.race([child, new Promise<undefined>((r) => setTimeout(() => r(undefined), 8000))]);
    expect(done?.exitCode).toBe(0);
  });
});
