import { execa } from "execa";
import http from "node:http";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "../helpers/env.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { routeProvider } from "../helpers/proxyFixture.js";

/** Open files the daemon may hold: 300 connections, some holding an upstream socket too, exceed it. */
const OPEN_FILES = 300;
const FLOOD = 300;
const SESSIONS = 10;

function health(socketPath: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: "/v1/health", agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", () => resolve(0));
  });
}

/**
 * Issue 18, finding 8: connections to proxy.sock were unbounded, so 300 of them (each holding a
 * request upstream) took every file the daemon may open, and its service socket (admin API
 * included) answered nothing until the flood ended.
 */
describe("a flood of connections to the daemon's proxy socket", () => {
  const { home, cleanup } = tempHome("authctl-proxy-flood-");
  const held: Array<() => void> = [];
  const sockets: Socket[] = [];
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let daemon: ReturnType<typeof execa> | undefined;

  beforeAll(async () => {
    // Every request is held upstream (as a slow model answer is) until the test releases it.
    upstream = await fakeUpstream((_req, res) => void held.push(() => res.writeHead(200).end("{}")));
    expect((await authctl(home, ["key", "anthropic", "--stdin"], { input: canary("sk-ant-") })).exitCode).toBe(0);
    routeProvider(home, "anthropic", (entry) => void (entry.proxy.api_key!.base_url = upstream.url));
  });

  afterAll(async () => {
    for (const release of held.splice(0)) release();
    for (const socket of sockets) socket.destroy();
    daemon?.kill("SIGTERM");
    await daemon;
    await upstream?.close();
    cleanup();
  });

  it(`${FLOOD} connections over ${SESSIONS} sessions: the proxy holds a bounded number, the service socket keeps answering at once`, async () => {
    const child = execa("prlimit", [`--nofile=${OPEN_FILES}:${OPEN_FILES}`, "node", CLI, "serve", "--json"], { env: childEnv(home), extendEnv: false, reject: false, stdin: "ignore" });
    daemon = child;
    const listening = await new Promise<{ serviceSocket: string; proxySocket: string }>((resolve, reject) => {
      let text = "";
      child.stdout!.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.includes("}")) resolve(JSON.parse(text) as { serviceSocket: string; proxySocket: string });
      });
      void child.then((r) => reject(new Error(`serve exited: ${String(r.stderr)}`)));
    });
    expect(await health(listening.serviceSocket, 2_000)).toBe(200);

    const phantoms: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const r = await authctl(home, ["proxy", "client", "anthropic", "--session", `flood-${i}`, "--base-url", "http://127.0.0.1:1", "--json"]);
      phantoms.push((JSON.parse(String(r.stdout)) as { env: Record<string, string> }).env.ANTHROPIC_API_KEY!);
    }
    // The flood keeps FLOOD connections open: one that closes is opened again (half of them send
    // nothing, half a request the upstream holds).
    let flooding = true;
    let dropped = 0;
    const open = (i: number) => {
      const socket = connect(listening.proxySocket);
      sockets.push(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        dropped++;
        if (flooding) setTimeout(() => open(i), 50);
      });
      if (i % 2) socket.write(`POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${phantoms[i % SESSIONS]}\r\ncontent-length: 2\r\n\r\n{}`);
    };
    for (let i = 0; i < FLOOD; i++) open(i);
    // Until the daemon turns connections away: at its bound (or, unbounded, out of open files).
    for (const start = Date.now(); dropped === 0 && Date.now() - start < 10_000; ) await new Promise((r) => setTimeout(r, 50));
    const answers: Array<{ status: number; fast: boolean }> = [];
    try {
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const started = Date.now();
        const status = await health(listening.serviceSocket, 3_000);
        answers.push({ status, fast: Date.now() - started < 1_000 });
      }
    } finally {
      flooding = false;
    }
    expect(answers).toEqual(Array(4).fill({ status: 200, fast: true }));
    // The proxy's listener held at most its bound of connections; the rest were closed as they came.
    expect(upstream.arrivals.length).toBeLessThanOrEqual(128);
    expect(dropped).toBeGreaterThan(FLOOD - 128);
  });
});
