import { existsSync, mkdirSync, readdirSync, rmSync, watch } from "node:fs";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { authctl, childEnv, CLI, tempHome } from "../helpers/env.js";
import { containerDetails, containersNamed, requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { listTree } from "../helpers/leaks.js";
import { waitForChild } from "../helpers/processes.js";
import { runInPty } from "../helpers/pty.js";
import { useFakeVendor } from "../helpers/roster.js";

/**
 * SIGINT/SIGTERM during a blocking run also cleans up, and exits 130 "interrupted" (docs/logging-in.md).
 * test/auth-container.test.ts covers SIGINT and SIGTERM once, at the paste-code prompt. Here:
 * every stop signal (SIGINT, SIGTERM, SIGHUP) at four moments of `authctl auth`, and the JSON
 * frontend path where the frontend's process running `session.argv` is the one that dies.
 * After each: no container of that project, nothing in TMPDIR (the session temp dir lives there).
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-interrupt-");
const tmp = join(t.home, "..", "tmp");
afterAll(() => t.cleanup());
beforeEach(() => {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
});

function assertNothingLeft(project: string) {
  expect(containersNamed(`${project}-auth-`), `${containerDetails(`${project}-auth-`)} (checked at ${new Date().toISOString()})`).toEqual([]);
  expect(listTree(tmp)).toEqual([]);
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * When the signal is sent:
 *  - start:   as soon as the authctl process exists. This lands in node's own start-up, before any
 *             of authctl's code can install a handler, so the signal's default action may end the
 *             process (exit 128+n): that is accepted here, as long as nothing is left behind;
 *  - tempdir: the moment the session's temp dir appears in TMPDIR (prepare has made it, the
 *             container is not started yet);
 *  - banner:  right after the banner is printed, while the container is still being created;
 *  - prompt:  at the vendor's paste-code prompt (the login is waiting for the user).
 */
const MOMENTS = {
  start: async () => {},
  tempdir: (run: ReturnType<typeof runInPty>) =>
    new Promise<void>((resolve, reject) => {
      const watcher = watch(tmp, () => {
        watcher.close();
        resolve();
      });
      if (readdirSync(tmp).length > 0) {
        watcher.close();
        resolve();
      }
      void run.child.then(() => {
        watcher.close();
        reject(new Error(`authctl exited before making its temp dir: ${run.output().slice(-400)}`));
      });
    }),
  banner: async (run: ReturnType<typeof runInPty>) => run.waitFor(/in a container; the credential is captured/),
  prompt: async (run: ReturnType<typeof runInPty>) => run.waitFor(/Paste code here:\s*$/m),
} as const;

describe.runIf(hasEngine)("interrupting `authctl auth`", () => {
  for (const signal of SIGNALS) {
    for (const [moment, reach] of Object.entries(MOMENTS)) {
      it(`${signal} at ${moment}: ${moment === "start" ? "exit 130 (or 128+n)" : "exit 130"}, no container, no temp dir`, async () => {
        useFakeVendor(t.home, "claude");
        const project = `pint-${signal.toLowerCase()}-${moment}`;
        const run = runInPty(
          ["node", CLI, "auth", "claude", "--project", project, "--mode", "oauth", "--image", TEST_IMAGE],
          childEnv(t.home, { TMPDIR: tmp }),
        );
        const pid = await waitForChild(run.child.pid!);
        await reach(run);
        process.kill(pid, signal);
        const result = await run.child;
        const seen = `exit ${result.exitCode}; left in TMPDIR: ${JSON.stringify(listTree(tmp))}; output: ${JSON.stringify(run.output().slice(-400))}`;
        const killedByDefault = 128 + osConstants.signals[signal];
        expect(moment === "start" ? [130, killedByDefault] : [130], seen).toContain(result.exitCode);
        expect(run.output()).not.toMatch(/\n\s+at /);
        assertNothingLeft(project);
        // The interrupted login stored nothing.
        const shown = await authctl(t.home, ["creds", "show", `${project}:claude`]);
        expect(shown.exitCode).toBe(3);
      });
    }
  }
});

describe.runIf(hasEngine)("Ctrl-C in the terminal: SIGINT to authctl and the engine client at once", () => {
  // The engine client dies too, possibly with its create request in flight; the engine may finish
  // that create after authctl's cleanup (docker then keeps a `Created` container forever).
  for (const moment of ["banner", "prompt"] as const) {
    it(`at ${moment}: exit 130, no container, no temp dir`, async () => {
      useFakeVendor(t.home, "claude");
      const project = `pctrlc-${moment}`;
      const run = runInPty(
        ["node", CLI, "auth", "claude", "--project", project, "--mode", "oauth", "--image", TEST_IMAGE],
        childEnv(t.home, { TMPDIR: tmp }),
      );
      const pid = await waitForChild(run.child.pid!);
      await MOMENTS[moment](run);
      process.kill(-pid, "SIGINT"); // authctl leads the terminal's foreground process group
      const result = await run.child;
      expect(result.exitCode, run.output().slice(-400)).toBe(130);
      assertNothingLeft(project);
    });
  }
});

describe.runIf(hasEngine)("interrupting a frontend's `session.argv`, then `session cleanup`", () => {
  // SIGKILL: the frontend's terminal tab is closed hard; the container outlives its client.
  for (const signal of [...SIGNALS, "SIGKILL"] as const) {
    it(`${signal} to the process running argv; cleanup leaves no container, temp dir or session file`, async () => {
      useFakeVendor(t.home, "gh");
      const project = `pfe-${signal.toLowerCase()}`;
      const prep = await authctl(t.home, ["session", "prepare", "gh", "--project", project, "--image", TEST_IMAGE, "--json"], {
        extraEnv: { TMPDIR: tmp },
      });
      expect(prep.exitCode, String(prep.stderr)).toBe(0);
      const session = JSON.parse(String(prep.stdout)) as { id: string; argv: string[]; authDir: string };
      expect(session.authDir.startsWith(tmp)).toBe(true);

      const run = runInPty(session.argv, childEnv(t.home));
      const pid = await waitForChild(run.child.pid!);
      await run.waitFor(/Paste code here:\s*$/m);
      process.kill(pid, signal);
      await run.child;

      const clean = await authctl(t.home, ["session", "cleanup", session.id], { extraEnv: { TMPDIR: tmp } });
      expect(clean.exitCode, String(clean.stderr)).toBe(0);
      assertNothingLeft(project);
      expect(existsSync(join(t.home, "sessions", `${session.id}.json`))).toBe(false);
      expect(readdirSync(join(t.home, "sessions")).filter((f) => f.startsWith(session.id))).toEqual([]);
      // Nothing was captured, and a capture now says the session is gone.
      const cap = await authctl(t.home, ["session", "capture", session.id]);
      expect(cap.exitCode).toBe(2);
      expect(String(cap.stderr)).toMatch(/no session/);
      expect((await authctl(t.home, ["creds", "show", `${project}:gh`])).exitCode).toBe(3);
    });
  }
});
