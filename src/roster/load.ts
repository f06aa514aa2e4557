import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { RosterError, UnknownProviderError } from "../core/errors.js";
import { errnoCode, readRegularFileSync } from "../core/regularFile.js";
// yaml loads only when a roster file is parsed: with the compiled shipped roster and no user file, never.
import { parseYaml } from "../core/yaml.js";
import { ProviderSchema, type Provider } from "./schema.js";

/** The roster shipped in the package (resources/agents), resolved from dist/ or src/ alike. */
export const BUILTIN_ROSTER_DIR = fileURLToPath(new URL("../../resources/agents/", import.meta.url));

/**
 * The shipped roster as `npm run build` validated it (scripts/compile-roster.mjs), beside the
 * built module; absent when running from src/. Parsing 14 YAML files and their first zod pass
 * cost more than everything else `authctl run` does before its child starts.
 */
export const COMPILED_ROSTER_FILE = fileURLToPath(new URL("./builtin-roster.json", import.meta.url));


export interface CompiledRoster {
  /** Of the YAML files it was compiled from: a changed, added or removed file makes it stale. */
  digest: string;
  providers: Provider[];
}

export class Roster {
  /** User roster files left out, each with why (the CLI warns; the rest of the roster still works). */
  readonly skipped: readonly RosterError[];

  constructor(
    private readonly providers: ReadonlyMap<string, Provider>,
    skipped: readonly RosterError[] = [],
  ) {
    this.skipped = skipped;
  }

  get names(): string[] {
    return [...this.providers.keys()].sort();
  }

  list(): Provider[] {
    return this.names.map((n) => this.providers.get(n)!);
  }

  has(name: string): boolean {
    return this.providers.has(name);
  }

  /** A provider by name; when its user file (`<name>.yaml`) was skipped, that file's own error says why. */
  get(name: string): Provider {
    const provider = this.providers.get(name);
    if (provider) return provider;
    const skippedFile = this.skipped.find((e) => basename(e.file).replace(/\.ya?ml$/, "") === name);
    throw skippedFile ?? new UnknownProviderError(name, this.names);
  }
}

/** Shipped files relative to the build's directory; a user's file whole, so it can be found and fixed. */
function displayPath(file: string): string {
  if (!file.startsWith(BUILTIN_ROSTER_DIR)) return file;
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") ? rel : file;
}

function firstIssue(error: z.ZodError): { field: string; message: string } {
  const issue = error.issues[0]!;
  return { field: issue.path.map(String).join("."), message: issue.message };
}

/** Parses and validates one roster file; every failure names the file and the field. */
export function parseProviderFile(file: string, text: string): Provider {
  const shown = displayPath(file);
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new RosterError(shown, "", `is not valid YAML: ${reason}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new RosterError(shown, "", "must be a YAML mapping of provider fields");
  }
  const parsed = ProviderSchema.safeParse(raw);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw new RosterError(shown, field, message);
  }
  const expected = basename(file).replace(/\.ya?ml$/, "");
  if (parsed.data.name !== expected) {
    throw new RosterError(shown, "name", `must equal the file name "${expected}" (got "${parsed.data.name}")`);
  }
  return parsed.data;
}

/** Largest roster file read (the shipped ones are about 1 KiB). */
export const MAX_ROSTER_FILE_BYTES = 256 * 1024;

/**
 * A roster file's text. Only regular files (a symlink to one is fine: a dotfiles checkout) and
 * only up to MAX_ROSTER_FILE_BYTES: a FIFO would otherwise hang every command, a link to
 * /dev/zero grow without end. Null when the file went away after the directory was listed.
 */
function readProviderFile(dir: string, entry: string): string | null {
  const file = join(dir, entry);
  const shown = displayPath(file);
  const refuse = (problem: string) =>
    new RosterError(shown, "", `${problem}; move it out of ${displayPath(dir)} or replace it with a provider file (a YAML mapping like the shipped ones)`);
  try {
    const text = readRegularFileSync(file, { limit: MAX_ROSTER_FILE_BYTES, followSymlinks: true, refuse });
    if (text === null && lstatSync(file, { throwIfNoEntry: false })) throw refuse("is a symlink to a missing file");
    return text;
  } catch (err) {
    if (err instanceof RosterError) throw err;
    throw refuse(`could not be read (${errnoCode(err) ?? String(err)})`);
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return [];
    throw new RosterError(displayPath(dir), "", `is not a readable directory of provider files (${errnoCode(err) ?? String(err)})`);
  }
}

/** The roster files of a directory, in load order, with their text. */
function rosterFiles(dir: string): { file: string; text: string }[] {
  const files: { file: string; text: string }[] = [];
  for (const entry of listDir(dir)) {
    if (!/\.ya?ml$/.test(entry)) continue;
    const text = readProviderFile(dir, entry);
    if (text !== null) files.push({ file: join(dir, entry), text });
  }
  return files;
}

export function rosterDigest(files: { file: string; text: string }[]): string {
  const hash = createHash("sha256");
  for (const { file, text } of files) hash.update(`${basename(file)}\0${text.length}\0${text}\0`);
  return hash.digest("hex");
}

/** The compiled providers when they were compiled from exactly these files; else undefined. */
function compiledProviders(compiledFile: string, files: { file: string; text: string }[]): Provider[] | undefined {
  if (!existsSync(compiledFile)) return undefined;
  try {
    const compiled = JSON.parse(readFileSync(compiledFile, "utf8")) as CompiledRoster;
    return compiled.digest === rosterDigest(files) ? compiled.providers : undefined;
  } catch {
    return undefined; // a damaged build output: parse the YAML as if it were not there
  }
}

function readDir(dir: string, into: Map<string, Provider>, compiledFile?: string): void {
  const files = rosterFiles(dir);
  const providers = (compiledFile && compiledProviders(compiledFile, files)) || files.map(({ file, text }) => parseProviderFile(file, text));
  for (const provider of providers) into.set(provider.name, provider);
}

/** The user's files one by one: a broken one is skipped (and reported), not fatal to every command. */
function readUserDir(dir: string, into: Map<string, Provider>): RosterError[] {
  const skipped: RosterError[] = [];
  const entries = (() => {
    try {
      return listDir(dir);
    } catch (err) {
      if (err instanceof RosterError) skipped.push(err);
      else throw err;
      return [];
    }
  })();
  for (const entry of entries.filter((e) => /\.ya?ml$/.test(e))) {
    try {
      const text = readProviderFile(dir, entry);
      if (text === null) continue;
      const provider = parseProviderFile(join(dir, entry), text);
      into.set(provider.name, provider);
    } catch (err) {
      if (!(err instanceof RosterError)) throw err;
      skipped.push(err);
    }
  }
  return skipped;
}

export interface LoadRosterOptions {
  builtinDir?: string;
  /** User roster dir ($AUTHCTL_HOME/agents): adds providers or replaces shipped ones by name. */
  userDir?: string;
  /** `builtinDir` as compiled by the build; used only while its digest matches the files. Default: the shipped one, for the shipped dir. */
  compiledFile?: string;
}

/** The shipped roster validated, as the build compiles it. */
export function compileBuiltinRoster(dir = BUILTIN_ROSTER_DIR): CompiledRoster {
  const files = rosterFiles(dir);
  return { digest: rosterDigest(files), providers: files.map(({ file, text }) => parseProviderFile(file, text)) };
}

export function loadRoster(options: LoadRosterOptions = {}): Roster {
  const providers = new Map<string, Provider>();
  readDir(options.builtinDir ?? BUILTIN_ROSTER_DIR, providers, options.compiledFile ?? (options.builtinDir === undefined ? COMPILED_ROSTER_FILE : undefined));
  const skipped = options.userDir ? readUserDir(options.userDir, providers) : [];
  return new Roster(providers, skipped);
}
