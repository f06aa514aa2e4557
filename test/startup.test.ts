import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, REPO } from "./helpers/env.js";
import { relativeTo, staticallyReachable } from "./helpers/imports.js";

const HEAVY_SOURCES = /^(src|dist)\/(engine|logins|roster\/load|roster\/schema|context|store\/keyringChild)/;
const HEAVY_PACKAGES = ["dockerode", "execa", "@azure/msal-node", "tmp-promise", "zod", "yaml", "@napi-rs/keyring", "koffi"];

describe("read-only commands stay light", () => {
  // main.ts only imports errors, io.js and program.js; program.js is what every command loads.
  const { files, packages } = staticallyReachable(join(REPO, "src/cli/program.ts"));
  const rel = [...files].map((f) => relativeTo(REPO, f));

  it("the CLI entry statically reaches the read-only commands", () => {
    expect(rel).toContain("src/cli/commands/creds.ts");
    expect(rel).toContain("src/store/store.ts");
  });

  it("does not load the context, login layer, engine, MSAL, the OS keyring or the roster parser (zod, yaml) until a command needs them", () => {
    // The keyring library loads only in the child process src/store/keyring.ts spawns to unlock a keyring store.
    expect(rel.filter((f) => HEAVY_SOURCES.test(f))).toEqual([]);
    for (const heavy of HEAVY_PACKAGES) expect(packages).not.toContain(heavy);
  });
});

interface Metafile {
  outputs: Record<string, { entryPoint?: string; inputs: Record<string, unknown>; imports: { path: string; kind: string; external?: boolean }[] }>;
}

describe("the bundled bin (dist/bin, scripts/bundle-cli.mjs) keeps lazy modules lazy", () => {
  const meta = JSON.parse(readFileSync(join(REPO, "dist/bin/meta.json"), "utf8")) as Metafile;
  const entry = Object.keys(meta.outputs).find((out) => meta.outputs[out]!.entryPoint === "dist/cli/main.js")!;

  /** What loads before any command runs: the entry, what main.ts always imports, and their static imports. */
  function startClosure() {
    const outputs = new Set<string>();
    const packages = new Set<string>();
    const visit = (out: string, followDynamic: boolean) => {
      if (outputs.has(out)) return;
      outputs.add(out);
      for (const edge of meta.outputs[out]!.imports) {
        const loadsNow = edge.kind !== "dynamic-import" || followDynamic;
        if (!loadsNow) continue;
        if (edge.external) packages.add(edge.path.startsWith("@") ? edge.path.split("/").slice(0, 2).join("/") : edge.path.split("/")[0]!);
        else visit(edge.path, false);
      }
    };
    visit(entry, true);
    const inputs = [...outputs].flatMap((out) => Object.keys(meta.outputs[out]!.inputs));
    return { inputs, packages };
  }

  it("is the package's bin and the tests' CLI", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { bin: { authctl: string } };
    expect(join(REPO, pkg.bin.authctl)).toBe(CLI);
    expect(join(REPO, entry)).toBe(CLI);
  });

  it("starts without the context, logins, engine, roster parser, zod, yaml, MSAL or the keyring", () => {
    const { inputs, packages } = startClosure();
    expect(inputs).toContain("dist/cli/commands/creds.js");
    expect(inputs).toContain("dist/store/store.js");
    expect(inputs.filter((i) => HEAVY_SOURCES.test(i) || HEAVY_PACKAGES.some((p) => i.includes(`node_modules/${p}/`)))).toEqual([]);
    for (const heavy of HEAVY_PACKAGES) expect(packages).not.toContain(heavy);
  });

  it("bundles the heavy parts into chunks that load only when a command imports them", () => {
    const lazy = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
    expect(lazy).toContain("dist/roster/load.js");
    expect(lazy).toContain("dist/context.js");
    expect(lazy.some((i) => i.includes("node_modules/zod/"))).toBe(true);
  });
});
