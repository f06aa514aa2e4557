import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { authctl, tempHome } from "./helpers/env.js";
import { containersNamed, ENGINE, requireEngine, TEST_IMAGE } from "./helpers/engine.js";
import { useFakeVendor } from "./helpers/roster.js";

/**
 * Each engine process costs a login ~100 ms or more (`npm run bench`'s container login row). The
 * engine CLI is replaced by a shim that logs each call's verb, then runs the real one.
 */
const hasEngine = requireEngine();
const t = tempHome("authctl-engine-calls-");
const tmp = join(t.home, "..", "tmp");
afterAll(() => t.cleanup());

function engineShim(): { path: string; verbs: () => string[] } {
  const real = ENGINE.includes("/") ? ENGINE : execFileSync("sh", ["-c", `command -v ${ENGINE}`], { encoding: "utf8" }).trim();
  const dir = join(t.home, "..", "shim");
  mkdirSync(dir, { recursive: true });
  const log = join(dir, "calls.log");
  rmSync(log, { force: true });
  const path = join(dir, basename(real));
  writeFileSync(path, `#!/bin/sh\necho "$1" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(path, 0o755);
  return { path, verbs: () => readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

describe.runIf(hasEngine)("the engine processes `authctl auth` starts", () => {
  it("podman: one `run` (its client creates the container itself); docker: `create`, then `start` (its daemon does); no separate image-exists probe", async () => {
    useFakeVendor(t.home, "claude", "instant");
    mkdirSync(tmp, { recursive: true });
    const shim = engineShim();
    const r = await authctl(t.home, ["auth", "claude", "--project", "pcalls", "--mode", "oauth", "--image", TEST_IMAGE], {
      extraEnv: { AUTHCTL_ENGINE: shim.path, TMPDIR: tmp },
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toContain("Stored pcalls:claude (oauth");
    const verbs = shim.verbs();
    const containerVerbs = verbs.filter((v) => ["run", "create", "start"].includes(v));
    expect(containerVerbs, verbs.join(" ")).toEqual(basename(shim.path).includes("docker") ? ["create", "start"] : ["run"]);
    // Over the API socket the image check is no process at all; through the CLI one inspect answers presence and labels.
    expect(verbs.filter((v) => v === "image").length, verbs.join(" ")).toBeLessThanOrEqual(1);
    expect(verbs.filter((v) => ["version", "info"].includes(v)), verbs.join(" ")).toEqual([]);
    expect(containersNamed("pcalls-auth-")).toEqual([]);
  });
});
