import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers/env.js";

/** Static (top-level) run-time imports of a source file; `await import()` is deliberately not followed. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  // `import type` / `export type` are erased by tsc and load nothing at run time.
  const fromImports = [...text.matchAll(/^(?:import|export)\s(?!type\s)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]!);
  const bareImports = [...text.matchAll(/^import\s+"([^"]+)"/gm)].map((m) => m[1]!);
  return [...fromImports, ...bareImports];
}

function reachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith(".")) {
        const ts = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
        if (existsSync(ts)) visit(ts);
      } else if (!spec.startsWith("node:")) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
  };
  visit(entry);
  return { files, packages };
}

describe("read-only commands stay light (SPEC §9)", () => {
  const { files, packages } = reachable(join(REPO, "src/cli/program.ts")) // main.ts only imports io.js and program.js;
  const rel = [...files].map((f) => f.slice(REPO.length));

  it("the CLI entry statically reaches the read-only commands", () => {
    expect(rel).toContain("src/cli/commands/creds.ts");
    expect(rel).toContain("src/store/store.ts");
  });

  it("does not load the container layer, MSAL or the roster parser (zod, yaml) until a command needs them", () => {
    expect(rel.filter((f) => f.startsWith("src/engine/") || f.startsWith("src/logins/container/"))).toEqual([]);
    for (const heavy of ["dockerode", "execa", "@azure/msal-node", "tmp-promise", "zod", "yaml"]) expect(packages).not.toContain(heavy);
  });
});
