import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCleanups } from "../helpers/cleanups.js";
import { authctl, tempHome } from "../helpers/env.js";
import { foregroundServe, waitFor } from "../helpers/serve-cli.js";

// What `serve` says about the daemon must be what runs: the built CLI, real daemons.

const cleanups = useCleanups();

function home() {
  const t = tempHome("authctl-truth-");
  cleanups.push(t.cleanup);
  const run = join(t.home, "run");
  return { ...t, serviceSocket: join(run, "authctl.sock"), proxySocket: join(run, "proxy.sock") };
}

async function detached(h: ReturnType<typeof home>, args: string[] = []) {
  const r = await authctl(h.home, ["serve", "--detach", ...args]);
  cleanups.push(() => authctl(h.home, ["serve", "stop"]));
  return r;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

const listensOn = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer()
      .once("error", () => resolve(true))
      .listen(port, "127.0.0.1", () => s.close(() => resolve(false)));
  });

describe("serve tells the truth about its daemon", () => {
  it("--detach --proxy-port while a daemon without that port runs: exit 1, says how, and the running one is told apart from a match", async () => {
    const h = home();
    expect((await detached(h)).exitCode).toBe(0);
    const port = await freePort();
    const r = await authctl(h.home, ["serve", "--detach", "--proxy-port", String(port)]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("authctl serve stop");
    expect(r.stderr).toContain(`--proxy-port ${port}`);
    expect(await listensOn(port)).toBe(false);
    const same = await authctl(h.home, ["serve", "--detach"]);
    expect(same.exitCode).toBe(0);
    expect(same.stderr).toMatch(/already running/);
  });

  it("--detach --proxy-port matching the running daemon's port: exit 0, says it already runs", async () => {
    const h = home();
    const port = await freePort();
    expect((await detached(h, ["--proxy-port", String(port)])).exitCode).toBe(0);
    expect(await listensOn(port)).toBe(true);
    const again = await authctl(h.home, ["serve", "--detach", "--proxy-port", String(port)]);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toMatch(/already running/);
  });

  it("--detach --json prints the JSON its help promises", async () => {
    const h = home();
    const r = await detached(h, ["--json"]);
    expect(r.exitCode).toBe(0);
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ serviceSocket: h.serviceSocket, proxySocket: h.proxySocket, pid: expect.any(Number) });
    expect(info).toHaveProperty("url");
    expect(info).toHaveProperty("auditLog");
  });

  it("serve --json and serve status --json name the two sockets apart, the same way", async () => {
    const h = home();
    const daemon = foregroundServe(h.home, ["--json"]);
    cleanups.push(() => daemon.kill("SIGKILL"));
    let text = "";
    daemon.stdout!.on("data", (d: Buffer) => (text += d.toString()));
    await waitFor(() => text.includes("}\n"), "serve --json's listening line");
    const listening = JSON.parse(text) as Record<string, unknown>;
    const status = JSON.parse((await authctl(h.home, ["serve", "status", "--json"])).stdout) as Record<string, unknown>;
    for (const out of [listening, status]) {
      expect(out).toMatchObject({ serviceSocket: h.serviceSocket, proxySocket: h.proxySocket });
      expect(out).not.toHaveProperty("socket");
    }
    daemon.kill("SIGTERM");
    expect((await daemon).exitCode).toBe(0);
  });

  it("a detached start that fails shows the daemon's reason", async () => {
    const h = home();
    const long = join(h.home, "x".repeat(120), "proxy.sock");
    const r = await detached(h, ["--proxy-socket", long]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("longer than a Unix socket allows");
  });

  it("Ctrl-C (SIGINT) on the foreground serve exits 130", async () => {
    const h = home();
    const daemon = foregroundServe(h.home);
    cleanups.push(() => daemon.kill("SIGKILL"));
    await waitFor(() => existsSync(h.serviceSocket), "the service socket");
    daemon.kill("SIGINT");
    const r = await daemon;
    expect(r.exitCode).toBe(130);
    expect(existsSync(h.serviceSocket)).toBe(false);
  });
});
