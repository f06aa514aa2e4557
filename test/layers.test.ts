import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers/env.js";
import { importsOf, relativeTo, sourceFiles } from "./helpers/imports.js";

/**
 * The layer order (docs/development.md), lowest first. A module may import its own layer and those below,
 * never one above: core ← roster, store, engine, ui ← credentials ← context ← logins, access ←
 * run, serve, proxy, helpers ← cli. credentials (what each payload type is) sits right above the store it
 * writes to, below every login that writes and every path that delivers. The package entry (index.ts) sits beside cli but never imports it.
 */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ["core"],
  ["roster", "store", "engine", "ui"],
  ["credentials"],
  ["context.ts"],
  ["logins", "access"],
  ["run", "serve", "proxy", "helpers"],
  ["cli", "index.ts"],
];

const SRC = join(REPO, "src");
const withoutComments = (code: string) => code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
const unitOf = (file: string) => relativeTo(SRC, file).split("/")[0]!;
function layerOf(file: string): number {
  const unit = unitOf(file);
  const layer = LAYERS.findIndex((units) => units.includes(unit));
  if (layer === -1) throw new Error(`src/${unit} is in no layer: add it to LAYERS in test/layers.test.ts (and docs/development.md)`);
  return layer;
}

describe("layers", () => {
  const files = sourceFiles(SRC);

  it("every import, static, dynamic or type-only, points down or across, never up", () => {
    const upward: string[] = [];
    for (const file of files) {
      for (const edge of importsOf(file)) {
        if (!edge.file) continue;
        const from = layerOf(file);
        const to = layerOf(edge.file);
        const entryToCli = unitOf(file) === "index.ts" && unitOf(edge.file) === "cli";
        const cliToEntry = unitOf(file) === "cli" && unitOf(edge.file) === "index.ts";
        if (to > from || entryToCli || cliToEntry) upward.push(`${relativeTo(REPO, file)} → ${relativeTo(REPO, edge.file)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("folders of one layer never import each other in a circle (through any number of folders)", () => {
    const edges = new Map<string, Map<string, string>>();
    for (const file of files) {
      for (const edge of importsOf(file)) {
        if (!edge.file) continue;
        const [from, to] = [unitOf(file), unitOf(edge.file)];
        if (from === to || layerOf(file) !== layerOf(edge.file)) continue;
        if (!edges.has(from)) edges.set(from, new Map());
        if (!edges.get(from)!.has(to)) edges.get(from)!.set(to, `${relativeTo(REPO, file)} → ${relativeTo(REPO, edge.file)}`);
      }
    }
    const cycles: string[] = [];
    const reported = new Set<string>();
    const walk = (start: string, at: string, path: string[]) => {
      for (const [next, why] of edges.get(at) ?? []) {
        const steps = [...path, why];
        if (next === start) {
          const units = steps.map((s) => s.split("/")[1]!).sort().join(",");
          if (!reported.has(units)) cycles.push(steps.join("; "));
          reported.add(units);
        } else if (!steps.slice(0, -1).some((s) => s.startsWith(`src/${next}`)) && steps.length < 8) walk(start, next, steps);
      }
    };
    for (const unit of edges.keys()) walk(unit, unit, []);
    expect(cycles).toEqual([]);
  });

  it("only the entry points read process.env / process.stdin or install signal handlers", async () => {
    const { readFileSync } = await import("node:fs");
    const offenders = files
      .filter((f) => !["cli", "index.ts", "serve"].includes(unitOf(f)))
      .filter((f) => /process\.(env|stdin)\b|process\.on\(/.test(withoutComments(readFileSync(f, "utf8"))))
      .map((f) => relativeTo(REPO, f));
    expect(offenders).toEqual([]);
  });

  it("the walker sees the layering it checks (a known downward edge is found)", () => {
    const session = join(SRC, "logins/container/session.ts");
    expect(importsOf(session).some((e) => e.file && relativeTo(SRC, e.file) === "core/errors.ts")).toBe(true);
  });
});
