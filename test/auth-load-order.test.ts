import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO, authctl, tempHome } from "./helpers/env.js";
import { containersNamed, ENGINE, requireEngine, TEST_IMAGE } from "./helpers/engine.js";

/**
 * What only the capture needs (the vendors' payload checks, zod, the shared mount) loads while the
 * login's container runs, not before it starts. The shipped roster is used, not a roster file in
 * `$AUTHCTL_HOME/agents/` (any such file is validated with zod on every command): the image's
 * `claude` is the fake vendor, logging in at once.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-load-order-");
const IMAGE = "localhost/authctl-load-order-vendor:latest";
afterAll(() => t.cleanup());

interface Metafile {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

describe.runIf(hasEngine)("`authctl auth`: what is loaded when the container is spawned", () => {
  it("neither zod nor the capture modules are loaded before the engine's run (or create), and the login is still stored", async () => {
    const dir = join(t.home, "..", "image");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "claude"), "#!/bin/sh\nexec fake-vendor claude instant\n", { mode: 0o755 });
    writeFileSync(join(dir, "Containerfile"), `FROM ${TEST_IMAGE}\nCOPY claude /usr/local/bin/claude\n`);
    execFileSync(ENGINE, ["build", "-q", "-t", IMAGE, "-f", join(dir, "Containerfile"), dir], { stdio: "ignore", env: { ...process.env, DOCKER_BUILDKIT: "0" } });
    const hook = join(t.home, "..", "at-spawn.cjs");
    writeFileSync(
      hook,
      `const cp = require("child_process"); const spawn = cp.spawn; let seen = false;
cp.spawn = function (cmd, args, ...rest) {
  if (!seen && Array.isArray(args) && (args[0] === "run" || args[0] === "create")) {
    seen = true;
    for (const f of Object.keys(require.cache)) process._rawDebug("AT-SPAWN " + f);
  }
  return spawn.call(this, cmd, args, ...rest);
};\n`,
    );
    const r = await authctl(t.home, ["auth", "claude", "--project", "loadorder", "--mode", "oauth", "--image", IMAGE], {
      extraEnv: { NODE_OPTIONS: `--require=${hook}` },
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toContain("Stored loadorder:claude (oauth");
    const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile;
    const files = [...String(r.stderr).matchAll(/^AT-SPAWN (\S+)$/gm)].map((m) => relative(REPO, m[1]!));
    expect(files.length).toBeGreaterThan(0);
    const inputs = files.flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {}));
    expect(inputs).toContain("dist/logins/container/runSession.js");
    expect(files.filter((f) => f.endsWith("/zod.js"))).toEqual([]);
    expect(inputs.filter((i) => /^dist\/logins\/container\/(capture\/|sharedMount)/.test(i))).toEqual([]);
    expect(containersNamed("loadorder-auth-")).toEqual([]);
  });
});
