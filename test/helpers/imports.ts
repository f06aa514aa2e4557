import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

export interface ImportEdge {
  /** The specifier as written. */
  spec: string;
  /** The resolved .ts file for a relative import, undefined for a package or node: builtin. */
  file?: string;
  /** `import type` / `export type`: erased by tsc, loads nothing at run time. */
  typeOnly: boolean;
  /** `await import(…)`: loaded only when that code runs. */
  dynamic: boolean;
}

/** Every import of a source file: static, type-only and dynamic, relative ones resolved to .ts files. */
export function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(file, "utf8");
  const edges: ImportEdge[] = [];
  const add = (spec: string, typeOnly: boolean, dynamic: boolean) => {
    let target: string | undefined;
    if (spec.startsWith(".")) {
      const ts = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
      if (existsSync(ts)) target = ts;
    }
    edges.push({ spec, file: target, typeOnly, dynamic });
  };
  for (const m of text.matchAll(/^(import|export)\s(type\s)?[^;]*?from\s+"([^"]+)"/gms)) add(m[3]!, Boolean(m[2]), false);
  for (const m of text.matchAll(/^import\s+"([^"]+)"/gm)) add(m[1]!, false, false);
  for (const m of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) add(m[1]!, false, true);
  return edges;
}

/** What a file loads at start-up: files and packages reachable through static run-time imports only. */
export function staticallyReachable(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const edge of importsOf(file)) {
      if (edge.typeOnly || edge.dynamic) continue;
      if (edge.file) visit(edge.file);
      else if (!edge.spec.startsWith("node:") && !edge.spec.startsWith(".")) {
        packages.add(edge.spec.startsWith("@") ? edge.spec.split("/").slice(0, 2).join("/") : edge.spec.split("/")[0]!);
      }
    }
  };
  visit(entry);
  return { files, packages };
}

/** Every .ts file under dir. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

export const relativeTo = (root: string, file: string) => relative(root, file).split("\\").join("/");
