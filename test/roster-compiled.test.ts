import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BUILTIN_ROSTER_DIR, compileBuiltinRoster, loadRoster, type CompiledRoster } from "../src/roster/load.js";
import { REPO, tempHome } from "./helpers/env.js";

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** A copy of the shipped roster and its compiled form, in a temp dir. */
function compiledCopy() {
  const t = tempHome("authctl-roster-compiled-");
  cleanups.push(t.cleanup);
  const dir = join(t.home, "agents");
  cpSync(BUILTIN_ROSTER_DIR, dir, { recursive: true });
  const compiledFile = join(t.home, "compiled.json");
  const compiled = compileBuiltinRoster(dir);
  return { dir, compiledFile, compiled, write: (c: CompiledRoster) => writeFileSync(compiledFile, JSON.stringify(c)) };
}

describe("the compiled shipped roster (npm run build: scripts/compile-roster.mjs)", () => {
  it("is exactly what parsing and validating the YAML gives, for the roster the build shipped", () => {
    const shipped = JSON.parse(readFileSync(join(REPO, "dist/roster/builtin-roster.json"), "utf8")) as CompiledRoster;
    const parsed = compileBuiltinRoster();
    expect(shipped.digest).toBe(parsed.digest);
    expect(shipped.providers).toStrictEqual(JSON.parse(JSON.stringify(parsed.providers)));
    expect(shipped.providers).toStrictEqual(parsed.providers); // nothing zod returns is lost in JSON
  });

  it("is used while the YAML files are the ones it was compiled from", () => {
    const c = compiledCopy();
    c.write({ ...c.compiled, providers: c.compiled.providers.map((p) => (p.name === "stripe" ? { ...p, label: "from the compiled file" } : p)) });
    expect(loadRoster({ builtinDir: c.dir, compiledFile: c.compiledFile }).get("stripe").label).toBe("from the compiled file");
  });

  it("is ignored once a file changes, or when it is damaged: the YAML is parsed", () => {
    const c = compiledCopy();
    c.write({ ...c.compiled, providers: c.compiled.providers.map((p) => (p.name === "stripe" ? { ...p, label: "stale" } : p)) });
    const stripe = join(c.dir, "stripe.yaml");
    writeFileSync(stripe, readFileSync(stripe, "utf8").replace(/^label: .*$/m, "label: Edited after the build"));
    expect(loadRoster({ builtinDir: c.dir, compiledFile: c.compiledFile }).get("stripe").label).toBe("Edited after the build");
    writeFileSync(c.compiledFile, "{ torn");
    expect(loadRoster({ builtinDir: c.dir, compiledFile: c.compiledFile }).get("stripe").label).toBe("Edited after the build");
  });

  it("a user roster file still overrides a compiled shipped provider", () => {
    const c = compiledCopy();
    c.write(c.compiled);
    const t = tempHome("authctl-roster-user-");
    cleanups.push(t.cleanup);
    cpSync(join(c.dir, "stripe.yaml"), join(t.home, "stripe.yaml"));
    writeFileSync(join(t.home, "stripe.yaml"), readFileSync(join(c.dir, "stripe.yaml"), "utf8").replace(/^label: .*$/m, "label: Mine"));
    expect(loadRoster({ builtinDir: c.dir, compiledFile: c.compiledFile, userDir: t.home }).get("stripe").label).toBe("Mine");
  });
});
