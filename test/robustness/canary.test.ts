import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { ctxOf } from "../helpers/context.js";
import { getCredentials } from "../../src/access/credentials.js";
import { loadRoster } from "../../src/roster/load.js";
import { CredentialStore } from "../../src/store/store.js";
import { authctl, canary, childEnv, CLI, REPO, tempHome } from "../helpers/env.js";
import { requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { countOccurrences, filesContaining, listTree, startPsSampler } from "../helpers/leaks.js";
import { runInPty } from "../helpers/pty.js";
import { useFakeVendor } from "../helpers/roster.js";

/**
 * No secret in argv, logs, errors, the DB's plaintext or test output (docs/security.md). ONE canary goes
 * in through every path that stores a secret:
 *   1. API key via the CLI (`authctl key openai --stdin`),
 *   2. API key via the library (storeApiKey in a child process, key on its stdin),
 *   3. container capture via `authctl auth claude` in a pty (the canary is the pasted code),
 *   4. session prepare → argv in a pty → `session capture --json` → `session cleanup` (gh),
 *   5. `authctl auth gemini --expose-token`,
 * plus the read-only commands a user runs afterwards. Then the canary must occur 0 times in:
 * every stdout/stderr of the run; the raw bytes of credentials.db, -wal, -shm and store.key (a
 * connection is held open during the run so the WAL is not checkpointed away before we read it);
 * every other file under $AUTHCTL_HOME; the argv of every process `ps -eo args` saw (sampled every
 * ~20 ms during the run); and TMPDIR (a per-test dir given to every child) afterwards.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-canary-");
const tmp = join(t.home, "..", "tmp");
afterAll(() => t.cleanup());

describe.runIf(hasEngine)("canary sweep", () => {
  it("one canary stored through every path appears nowhere it should not", async () => {
    const secret = canary();
    const home = t.home;
    mkdirSync(tmp, { recursive: true });
    const env = childEnv(home, { TMPDIR: tmp });
    const outputs: string[] = [];
    const keep = (r: { stdout?: unknown; stderr?: unknown }) => outputs.push(String(r.stdout ?? ""), String(r.stderr ?? ""));
    const cli = async (args: string[], input?: string) => {
      const r = await authctl(home, args, { extraEnv: { TMPDIR: tmp }, ...(input === undefined ? {} : { input }) });
      keep(r);
      expect(r.exitCode, `authctl ${args.join(" ")}: ${String(r.stderr)}`).toBe(0);
      return r;
    };
    const ptyLogin = async (argv: string[]) => {
      const run = runInPty(argv, env);
      await run.waitFor(/Paste code here:\s*$/m);
      run.type(secret + "\r");
      const result = await run.child;
      outputs.push(run.output());
      expect(result.exitCode, run.output()).toBe(0);
    };

    const sampler = startPsSampler(20);
    let holder: Database.Database | undefined;
    let ps: { lines: string[]; samples: number };
    try {
      // 1. CLI, key on stdin.
      await cli(["key", "openai", "--set", "cv-cli", "--stdin"], `sk-${secret}`);
      // From here on, hold a connection so the last CLI to exit does not checkpoint and delete the WAL.
      holder = new Database(join(home, "credentials.db"));
      holder.prepare("SELECT count(*) FROM credentials").get();

      // 2. Library, in a child process (stdin, not argv).
      const lib = await execa("node", [join(REPO, "test/robustness/workers/store-key.mjs"), "anthropic", "cv-lib"], {
        env,
        extendEnv: false,
        reject: false,
        input: `sk-ant-${secret}`,
      });
      keep(lib);
      expect(lib.exitCode, String(lib.stderr)).toBe(0);

      // 3. Container capture through `authctl auth` in a terminal.
      useFakeVendor(home, "claude");
      await ptyLogin(["node", CLI, "auth", "claude", "--project", "cv-auth", "--mode", "oauth", "--image", TEST_IMAGE]);

      // 4. The JSON frontend path.
      useFakeVendor(home, "gh");
      const prep = await cli(["session", "prepare", "gh", "--project", "cv-session", "--image", TEST_IMAGE, "--json"]);
      const session = JSON.parse(String(prep.stdout)) as { id: string; argv: string[] };
      await ptyLogin(session.argv);
      await cli(["session", "capture", session.id, "--json"]);
      await cli(["session", "cleanup", session.id, "--json"]);

      // 5. --expose-token.
      useFakeVendor(home, "gemini");
      await ptyLogin(["node", CLI, "auth", "gemini", "--project", "cv-expose", "--mode", "oauth", "--image", TEST_IMAGE, "--expose-token"]);

      // What a user does afterwards.
      await cli(["creds", "list"]);
      await cli(["creds", "list", "--json"]);
      for (const ref of ["cv-cli:openai", "cv-lib:anthropic", "cv-auth:claude", "cv-session:gh", "cv-expose:gemini"]) {
        await cli(["creds", "show", ref]);
        await cli(["creds", "show", ref, "--json"]);
      }
      await cli(["status", "--json"]);
    } finally {
      ps = await sampler.stop();
    }

    // The canary really went in everywhere (so finding it nowhere means something).
    {
      using store = CredentialStore.open({ home, env: {} });
      const roster = loadRoster({ userDir: join(home, "agents") });
      const stored = (provider: string, credentialSet: string) => JSON.stringify(getCredentials(provider, { credentialSet, context: ctxOf(store, roster) }).payload);
      for (const [provider, set] of [["openai", "cv-cli"], ["anthropic", "cv-lib"], ["claude", "cv-auth"], ["gh", "cv-session"], ["gemini", "cv-expose"]] as const) {
        expect(stored(provider, set), `${set}:${provider}`).toContain(secret);
      }
    }

    // Output of every process of the run.
    expect(countOccurrences(outputs.join("\n"), secret)).toBe(0);

    // The store's files, raw bytes (the WAL still holds this run's frames: `holder` kept it alive).
    const storeFiles = ["credentials.db", "credentials.db-wal", "credentials.db-shm", "store.key"].map((f) => join(home, f));
    expect(existsSync(join(home, "credentials.db-wal"))).toBe(true);
    for (const f of storeFiles.filter(existsSync)) expect(countOccurrences(readFileSync(f), secret), f).toBe(0);
    holder?.close();

    // Everything else under $AUTHCTL_HOME. Excluded on purpose: the gemini shared mount, where
    // --expose-token deliberately writes the real vendor file (0600) — checked to hold it below.
    const exposed = join(home, "mounts", "cv-expose", "_gemini-config");
    expect(filesContaining(home, secret, [exposed])).toEqual([]);
    expect(filesContaining(exposed, secret)).toEqual(["oauth_creds.json"]);
    // The default shared mounts hold a phantom marker, never the token.
    for (const dir of ["cv-auth/_claude-config", "cv-session/_gh-config"]) {
      const mount = join(home, "mounts", dir);
      expect(readdirSync(mount)).toContain("authctl-phantom.json");
      expect(filesContaining(mount, secret)).toEqual([]);
    }

    // argv of every process seen during the run.
    expect(ps.samples).toBeGreaterThan(0);
    expect(ps.lines.some((l) => l.includes(CLI)), "the ps sampler saw the authctl processes").toBe(true);
    expect(ps.lines.filter((l) => l.includes(secret))).toEqual([]);

    // TMPDIR afterwards: nothing with the canary (in fact nothing at all).
    expect(filesContaining(tmp, secret)).toEqual([]);
    expect(listTree(tmp)).toEqual([]);
  }, 120_000);
});
