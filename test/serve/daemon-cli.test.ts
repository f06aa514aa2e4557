import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCleanups } from "../helpers/cleanups.js";
import { authctl, canary, tempHome } from "../helpers/env.js";
import { startPsSampler } from "../helpers/leaks.js";
import { foregroundServe, waitFor } from "../helpers/serve-cli.js";

const cleanups = useCleanups();

function home() {
  const t = tempHome("authctl-daemon-");
  cleanups.push(t.cleanup);
  const socket = join(t.home, "run", "authctl.sock");
  const serve = (args: string[] = []) => foregroundServe(t.home, args);
  return { ...t, socket, pidFile: join(t.home, "run", "serve.pid"), serve };
}

describe("authctl serve (the daemon)", () => {
  it("runs in the foreground until SIGTERM, then removes its socket and lock", async () => {
    const h = home();
    const daemon = h.serve();
    cleanups.push(() => daemon.kill("SIGKILL"));
    await waitFor(() => existsSync(h.socket), "the service socket");
    const status = await authctl(h.home, ["serve", "status", "--json"]);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, serviceSocket: h.socket, pid: daemon.pid });
    daemon.kill("SIGTERM");
    const r = await daemon;
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`authctl service listening on ${h.socket}`);
    expect(existsSync(h.socket) || existsSync(h.pidFile)).toBe(false);
    expect((await authctl(h.home, ["serve", "status"])).exitCode).toBe(1);
  });

  it("--idle-exit stops a daemon nobody uses", async () => {
    const h = home();
    const r = await h.serve(["--idle-exit", "1"]);
    expect(r.exitCode).toBe(0);
    expect(existsSync(h.socket)).toBe(false);
    expect((await authctl(h.home, ["serve", "--idle-exit", "soon"])).stderr).toMatch(/--idle-exit takes a whole number of seconds/);
  });

  it("no secret or token shows in any process's argv while run and its daemon work", async () => {
    const h = home();
    const key = canary("sk-ant-");
    expect((await authctl(h.home, ["key", "anthropic", "--stdin"], { input: key })).exitCode).toBe(0);
    cleanups.push(() => authctl(h.home, ["serve", "stop"]));
    const sampler = startPsSampler(10);
    const r = await authctl(h.home, ["run", "--no-mask", "--", "sh", "-c", 'sleep 0.5; echo "$AUTHCTL_TOKEN"']); // the token is masked like the secrets
    const { lines, samples } = await sampler.stop();
    expect(r.exitCode).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^act_/);
    expect(samples).toBeGreaterThan(5);
    expect(lines.filter((l) => l.includes(key) || l.includes(token))).toEqual([]);
    const log = await authctl(h.home, ["serve", "log"]);
    expect(log.stdout).toMatch(/admin\s+tokens\/mint\s+default:anthropic → token:[a-f0-9]{16} \[list,head,get\]\s+allowed/);
    expect(log.stdout).not.toContain(key);
    expect(log.stdout).not.toContain(token);
  });
});
