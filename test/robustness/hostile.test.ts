import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, CLI, tempHome } from "../helpers/env.js";
import { containersNamed, requireEngine, TEST_IMAGE } from "../helpers/engine.js";
import { filesContaining, listTree, STACK_TRACE } from "../helpers/leaks.js";
import { runInPty } from "../helpers/pty.js";
import { useFakeVendor } from "../helpers/roster.js";
import { captureTarget, useContainerCommand, vendorFile, type ContainerProvider } from "../helpers/vendor-command.js";

/**
 * The capture rules (docs/security.md) against a hostile (or just broken) container: whatever the login leaves
 * in the temp dir — a symlink to a host file, a FIFO, a 100 MiB file, invalid JSON/YAML, the
 * wrong shape, no file, a non-zero exit — authctl refuses it with a clear error, stores nothing
 * (a fresh set has no row, no shared mount is written), leaves no container or temp dir, and
 * never reads outside the temp dir.
 *
 * "Never reads outside" is proven with a canary: the `hostlink` case plants (from inside the
 * container) a symlink to a HOST file that holds a perfectly valid credential with a canary token.
 * Had authctl followed it, the canary would be stored and accepted; it must appear nowhere — not
 * in the output, not in $AUTHCTL_HOME. The fake vendor's own `symlink`/`symlinkhost` variants
 * point at /etc/passwd and /root/.ssh/id_rsa; host /etc/passwd content (`root:x:0:0`) must never
 * show up in the output either.
 *
 * claude goes through the blocking path (`authctl auth` in a pty), gh through the JSON frontend
 * path (`session prepare --no-tty` → run argv piped → `session capture` → `session cleanup`), and
 * codex/gemini get the host-symlink case on the blocking path.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-hostile-");
const root = join(t.home, "..");
const tmp = join(root, "tmp");
const hostDir = join(root, "host-secrets");
afterAll(() => t.cleanup());
beforeEach(() => {
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
});

interface Case {
  variant: string;
  message: (provider: ContainerProvider) => RegExp;
}

const CASES: Case[] = [
  { variant: "hostlink", message: () => /is a symlink; refused/ },
  { variant: "symlink", message: () => /is a symlink; refused/ },
  { variant: "symlinkhost", message: () => /is a symlink; refused/ },
  { variant: "fifo", message: () => /is not a regular file \(fifo\); refused/ },
  { variant: "huge", message: () => /is \d+ bytes, over the 1 MiB limit; refused/ },
  { variant: "invalidjson", message: (p) => new RegExp(`unrecognised ${p} credential file .*: not valid ${p === "gh" ? "YAML" : "JSON"}`) },
  { variant: "badformat", message: (p) => new RegExp(`unrecognised ${p} credential file`) },
  { variant: "nofile", message: () => /the login ended without a credential file/ },
  { variant: "nonzero", message: (p) => (p === "gh" ? /the login ended without a credential file/ : /exited with status 3; nothing was stored/) },
];

/** Sets up the provider's login for `variant`; returns the host canary a `hostlink` must never reveal. */
function arrange(home: string, provider: ContainerProvider, variant: string): string {
  const hostCanary = canary();
  if (variant !== "hostlink") {
    useFakeVendor(home, provider, variant);
    return hostCanary;
  }
  // The path is shown in the banner (it is the login command); only the file content is secret.
  const hostFile = join(hostDir, `${provider}-credentials`);
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(hostFile, vendorFile(provider, hostCanary), { mode: 0o644 });
  const { mount, file } = captureTarget(provider);
  useContainerCommand(home, provider, ["sh", "-c", `ln -s '${hostFile}' '${mount}/${file}' && echo 'Login successful.'`]);
  return hostCanary;
}

async function assertRefusedAndClean(home: string, provider: ContainerProvider, set: string, project: string, output: string, hostCanary: string, c: Case) {
  expect(output).toMatch(c.message(provider));
  expect(output).not.toMatch(STACK_TRACE);
  expect(output).not.toMatch(/root:x:0:0/);
  expect(output).not.toContain(hostCanary);
  // Nothing stored: the fresh set has no row, and no shared mount was written for it.
  const list = await authctl(home, ["creds", "list", "--set", set, "--json"]);
  expect(list.exitCode, String(list.stderr)).toBe(0);
  expect(JSON.parse(String(list.stdout))).toEqual([]);
  expect(existsSync(join(home, "mounts"))).toBe(false);
  expect(filesContaining(home, hostCanary)).toEqual([]);
  // Nothing left behind.
  expect(containersNamed(`${project}-auth-`)).toEqual([]);
  expect(listTree(tmp)).toEqual([]);
}

describe.runIf(hasEngine)("hostile containers: blocking `authctl auth` (claude)", () => {
  for (const c of CASES) {
    it(`claude ${c.variant}: refused, nothing stored, nothing read outside the temp dir`, async () => {
      const h = tempHome("authctl-hostile-claude-");
      try {
        const hostCanary = arrange(h.home, "claude", c.variant);
        const project = `ph-claude-${c.variant}`;
        const run = runInPty(
          ["node", CLI, "auth", "claude", "--project", project, "--mode", "oauth", "--image", TEST_IMAGE],
          childEnv(h.home, { TMPDIR: tmp }),
        );
        if (c.variant !== "hostlink") {
          await run.waitFor(/Paste code here:\s*$/m);
          run.type(canary() + "\r");
        }
        const result = await run.child;
        expect(result.exitCode, run.output()).toBe(1);
        await assertRefusedAndClean(h.home, "claude", project, project, run.output(), hostCanary, c);
      } finally {
        h.cleanup();
      }
    });
  }

  for (const provider of ["codex", "gemini"] as const) {
    it(`${provider} hostlink: a symlink to a host credential file is refused`, async () => {
      const h = tempHome(`authctl-hostile-${provider}-`);
      try {
        const hostCanary = arrange(h.home, provider, "hostlink");
        const project = `ph-${provider}-hostlink`;
        const run = runInPty(
          ["node", CLI, "auth", provider, "--project", project, "--mode", "oauth", "--image", TEST_IMAGE],
          childEnv(h.home, { TMPDIR: tmp }),
        );
        const result = await run.child;
        expect(result.exitCode, run.output()).toBe(1);
        await assertRefusedAndClean(h.home, provider, project, project, run.output(), hostCanary, CASES[0]!);
      } finally {
        h.cleanup();
      }
    });
  }
});

describe.runIf(hasEngine)("hostile containers: JSON frontend path (gh)", () => {
  it("gh yamltag: a token behind a YAML tag is never printed (parser warnings go to stderr)", async () => {
    const h = tempHome("authctl-hostile-gh-");
    try {
      const { mount, file } = captureTarget("gh");
      // The code comes in on stdin, like a pasted one: never in argv or the banner.
      useContainerCommand(h.home, "gh", [
        "sh",
        "-c",
        `IFS= read -r code; printf 'github.com:\\n    oauth_token: !secret gho_%s\\n    user: octo\\n' "$code" > '${mount}/${file}' && echo 'Login successful.'`,
      ]);
      const project = "ph-gh-yamltag";
      const prep = await authctl(h.home, ["session", "prepare", "gh", "--project", project, "--image", TEST_IMAGE, "--no-tty", "--json"], {
        extraEnv: { TMPDIR: tmp },
      });
      expect(prep.exitCode, String(prep.stderr)).toBe(0);
      const session = JSON.parse(String(prep.stdout)) as { id: string; argv: string[] };
      const code = canary();
      const login = await execa(session.argv[0]!, session.argv.slice(1), { input: code + "\n", reject: false });
      expect(login.exitCode, String(login.stderr)).toBe(0);
      const cap = await authctl(h.home, ["session", "capture", session.id, "--json"]);
      // Stored or refused: either is defensible; printing the token is not.
      expect([0, 1]).toContain(cap.exitCode);
      expect(String(cap.stdout) + String(cap.stderr)).not.toContain(code);
      expect(String(cap.stderr)).not.toMatch(/YAMLWarning/);
      expect((await authctl(h.home, ["session", "cleanup", session.id], { extraEnv: { TMPDIR: tmp } })).exitCode).toBe(0);
      expect(containersNamed(`${project}-auth-`)).toEqual([]);
      expect(listTree(tmp)).toEqual([]);
    } finally {
      h.cleanup();
    }
  });

  for (const c of CASES) {
    it(`gh ${c.variant}: session capture refuses, stores nothing; cleanup leaves nothing`, async () => {
      const h = tempHome("authctl-hostile-gh-");
      try {
        const hostCanary = arrange(h.home, "gh", c.variant);
        const project = `ph-gh-${c.variant}`;
        const prep = await authctl(h.home, ["session", "prepare", "gh", "--project", project, "--image", TEST_IMAGE, "--no-tty", "--json"], {
          extraEnv: { TMPDIR: tmp },
        });
        expect(prep.exitCode, String(prep.stderr)).toBe(0);
        const session = JSON.parse(String(prep.stdout)) as { id: string; argv: string[] };
        // The frontend runs the argv with a pipe; the vendor's exit status is the frontend's to see.
        const login = await execa(session.argv[0]!, session.argv.slice(1), { input: canary() + "\n", reject: false });
        expect(login.exitCode, String(login.stderr)).toBe(c.variant === "nonzero" ? 3 : 0);

        const cap = await authctl(h.home, ["session", "capture", session.id, "--json"]);
        const output = `${String(cap.stdout)}\n${String(cap.stderr)}\n${String(login.stdout)}\n${String(login.stderr)}`;
        expect(cap.exitCode, output).toBe(1);
        expect(String(cap.stdout)).toBe("");
        const clean = await authctl(h.home, ["session", "cleanup", session.id], { extraEnv: { TMPDIR: tmp } });
        expect(clean.exitCode, String(clean.stderr)).toBe(0);
        await assertRefusedAndClean(h.home, "gh", project, project, output, hostCanary, c);
      } finally {
        h.cleanup();
      }
    });
  }
});
