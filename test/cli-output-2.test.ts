import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canary, childEnv, tempHome } from "./helpers/env.js";
import { memoryIO, runInProcess } from "./helpers/memory-io.js";
import { oauth2At, writeUserRoster } from "./helpers/host-roster.js";
import { createServer } from "node:net";
import { authBaseImage, authImage } from "./helpers/auth-image.js";
import { requireEngine } from "./helpers/engine.js";
import { runCli } from "../src/cli/program.js";

const t = tempHome();
afterAll(() => t.cleanup());
const run = (args: string[], input?: string, home = t.home) => runInProcess(childEnv(home), args, input);

describe("authctl output, part 2 (in-process)", () => {
  it("`run --set ci ls -la` (no `--`): the error says to put `--` before the command", async () => {
    const r = await run(["run", "--set", "ci", "ls", "-la"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown option '-la'");
    expect(r.stderr).toContain("put `--` before the command: authctl run [options] -- ls [args…]");
    expect((await run(["run", "curl", "-H", "x", canary()])).stderr).not.toContain("-H x");
  });

  it("a bad user roster file is named by its full path and skipped; providers and run go on", async () => {
    const h = tempHome();
    try {
      const agents = join(h.home, "agents");
      mkdirSync(agents, { recursive: true });
      writeFileSync(join(agents, "broken.yaml"), "name: [unclosed\n");
      const p = await run(["providers"], undefined, h.home);
      expect(p.exitCode, p.stderr).toBe(0);
      expect(p.stdout).toContain("anthropic");
      expect(p.stderr).toContain(`authctl: warning: skipped roster file ${join(agents, "broken.yaml")}`);
      const key = canary("sk-ant-api03-");
      expect((await run(["key", "anthropic"], key, h.home)).exitCode).toBe(0);
      const r = await run(["run", "--no-token", "--", "true"], undefined, h.home);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain(join(agents, "broken.yaml"));
      expect(r.stdout + r.stderr + p.stdout).not.toContain(key);
    } finally {
      h.cleanup();
    }
  });

  it("audit --json: malformed lines are skipped with a count naming file and line, never passed through", async () => {
    const h = tempHome();
    try {
      const key = canary("sk-ant-api03-");
      expect((await run(["key", "anthropic"], key, h.home)).exitCode).toBe(0);
      const log = join(h.home, "audit.jsonl");
      const planted = canary("planted-");
      const firstBad = readFileSync(log, "utf8").split("\n").length;
      appendFileSync(log, `${JSON.stringify(planted)}\n{"note":"${planted}"}\n[1,2]\n`);
      const r = await run(["audit", "--json"], undefined, h.home);
      expect(r.exitCode, r.stderr).toBe(0);
      const events = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
      expect(events.map((e) => e.op)).toEqual(["stored"]);
      expect(r.stdout).not.toContain(planted);
      expect(r.stderr).toContain(`authctl: warning: skipped 3 malformed audit lines (first: ${log}:${firstBad})`);
      expect(r.stderr).not.toContain(planted);
      const table = await run(["audit"], undefined, h.home);
      expect(table.stdout + table.stderr).not.toContain(planted);
    } finally {
      h.cleanup();
    }
  });

  it("a --command key's preview shows the program, not a token inside its argv (key, creds list, creds show)", async () => {
    const h = tempHome();
    try {
      const key = canary("sk-ant-api03-");
      const stored = await run(["key", "anthropic", "--command", "--", "printf", "%s", key], undefined, h.home);
      expect(stored.exitCode, stored.stderr).toBe(0);
      expect(stored.stdout).toContain("printf");
      const list = await run(["creds", "list"], undefined, h.home);
      const show = await run(["creds", "show", "default:anthropic", "--json"], undefined, h.home);
      expect(show.exitCode, show.stderr).toBe(0);
      for (const r of [stored, list, show]) {
        expect(r.stdout + r.stderr).not.toContain(key);
        expect(r.stdout + r.stderr).not.toContain(key.slice(13, 29));
      }
    } finally {
      h.cleanup();
    }
  });

  it("`key --stdin` (and `--api-key -`) on a terminal reads the key hidden: raw mode, no echo", async () => {
    for (const flag of [["--stdin"], ["--api-key", "-"]]) {
      const key = canary("sk-ant-api03-");
      const m = memoryIO(childEnv(t.home), `${key}\r`);
      const raw: boolean[] = [];
      // A terminal as far as authctl can tell: echo stops only when it switches the terminal to raw mode.
      Object.assign(m.io.stdin, { isTTY: true, setRawMode: (on: boolean) => (raw.push(on), m.io.stdin) });
      const code = await runCli(["key", "anthropic", ...flag, "--set", "hidden"], m.io);
      expect(code, m.stderr()).toBe(0);
      expect(raw).toEqual([true, false]);
      expect(m.stdout() + m.stderr()).not.toContain(key);
    }
  });

  it("a login whose endpoint cannot be reached names the host and port it failed to reach", async () => {
    const h = tempHome();
    // A port that was just free: nothing listens there, so the connection is refused.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    try {
      writeUserRoster(h.home, oauth2At(`http://127.0.0.1:${port}`, "oauth2_device"));
      const r = await run(["auth", "fakehub"], undefined, h.home);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`could not reach 127.0.0.1:${port}`);
      expect(r.stderr).toContain("fakehub");
    } finally {
      h.cleanup();
    }
  });
});

describe.runIf(requireEngine())("image build --json", () => {
  it("prints {key, image} on stdout (progress stays on stderr); a bad key is a JSON error", async () => {
    // The script's base: the image built on it is in both engines (the script copies it), so nothing builds here.
    await authImage();
    const r = await run(["image", "build", "--base", await authBaseImage(), "--json"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ key: "auth", image: expect.stringMatching(/^localhost\/authctl-auth:[0-9a-f]{12}$/) });
    const bad = await run(["image", "build", "nope", "--json"]);
    expect(bad.exitCode).toBe(2);
    expect(JSON.parse(bad.stderr).error.message).toContain(`no image "nope"`);
  });
});
