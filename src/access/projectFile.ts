import { fstatSync, lstatSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as z from "zod";
import { lazy } from "../core/lazy.js";
import { UsageError } from "../core/errors.js";
import { PROVIDER_NAME, SET_NAME } from "../core/names.js";
import { errnoCode, readRegularFileSync } from "../core/regularFile.js";
import { parseYaml } from "../core/yaml.js";
import { keyPrefixOwners } from "../logins/api-key/keyPrefix.js";
import type { Provider } from "../roster/schema.js";

import { PROJECT_FILE } from "./projectLookup.js";

export { findProjectFile, PROJECT_FILE } from "./projectLookup.js";
const MAX_PROJECT_FILE_BYTES = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Names only: a project file is committed with the code, so nothing in it may be a secret. */
const ProjectFileSchema = lazy(() => z.strictObject({
  set: z.string().max(128).regex(SET_NAME).optional(),
  require: z.array(z.string().max(128).regex(PROVIDER_NAME)).optional(),
  env: z.record(z.string().max(128).regex(PROVIDER_NAME), z.string().max(128).regex(ENV_NAME)).optional(),
}));

/** `authctl.yaml`: the set a project's commands read, the providers it needs, and the extra variable names run exports. */
export interface ProjectFile {
  /** Absolute path of the file. */
  file: string;
  set?: string;
  require: string[];
  /** provider → an extra variable name `authctl run` exports its secret under in this project. */
  env: Record<string, string>;
}

/** The nearest repository root (a directory holding `.git`) from `cwd`, else `cwd` itself. */
export function projectRoot(cwd: string): string {
  for (let dir = cwd; ; dir = dirname(dir)) {
    if (lstatSync(join(dir, ".git"), { throwIfNoEntry: false })) return dir;
    if (dirname(dir) === dir) return cwd;
  }
}

const refused = (file: string, field: string, problem: string) =>
  new UsageError(`project file ${file}: ${field ? `${field}: ` : ""}${problem}`);

/** A long run of letters and digits with no separator: a token, not a name someone chose. */
const TOKEN_LIKE = /[A-Za-z0-9+/=]{32,}/;
const looksLikeToken = (value: string) => TOKEN_LIKE.test(value) && /\d/.test(value) && /[A-Za-z]/.test(value);

/**
 * Every string of the document, keys included, that looks like a key (a roster provider's key
 * prefix and the length of one, or a long token) is refused naming where it is, never what it is.
 */
function assertNoSecrets(file: string, value: unknown, providers: readonly Provider[], path: string): void {
  const check = (text: string, where: string) => {
    const owners = text.length >= 16 ? keyPrefixOwners(providers, text) : [];
    if (owners.length > 0 || looksLikeToken(text)) {
      const whose = owners.length > 0 ? `a key of ${owners[0]!.name}` : "a token";
      throw refused(file, where || "(top level)", `looks like ${whose} (not shown): a project file is committed with the code and holds names only; store the secret with \`authctl key <provider>\` and remove it from the file`);
    }
  };
  if (typeof value === "string") return check(value, path);
  if (Array.isArray(value)) return value.forEach((v, i) => assertNoSecrets(file, v, providers, `${path}[${i}]`));
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const where = path ? `${path}.${k.length <= 40 && /^[\w.-]+$/.test(k) && !looksLikeToken(k) ? k : "(a key)"}` : k;
      check(k, path ? `${path} (a key)` : "(a key)");
      assertNoSecrets(file, v, providers, where);
    }
  }
}

/** A field's path as the file spells it (`require[1]`, `env.gh`), for the error. */
const fieldOf = (path: readonly PropertyKey[]) => path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`)).join("");

function schemaProblem(file: string, error: z.ZodError): UsageError {
  const issue = error.issues[0]!;
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => (/^[\w-]{1,40}$/.test(k) ? k : "(a key not shown)"));
    const at = fieldOf(issue.path);
    return refused(file, at ? `${at}.${keys[0]}` : keys[0]!, `unknown key; a project file holds only set, require (provider names) and env (provider: VARIABLE_NAME)`);
  }
  const field = fieldOf(issue.path);
  const what = field === "set" ? "a credential set name (letters, digits and _ . @ + -)"
    : field.startsWith("require") ? "a list of provider names (see `authctl providers`)"
    : "provider: VARIABLE_NAME pairs";
  return refused(file, field, `must be ${what}`);
}

/**
 * Reads and checks a project file. Another account's file, or one anyone may write, is refused:
 * whoever can write it picks which of this user's credentials a command hands out.
 */
export function loadProjectFile(file: string, providers: readonly Provider[], ownUid: number | undefined): ProjectFile {
  let text: string | null;
  try {
    text = readRegularFileSync(file, {
      limit: MAX_PROJECT_FILE_BYTES,
      followSymlinks: true,
      refuse: (problem) => refused(file, "", problem),
      verifyOpened: (fd) => {
        const st = fstatSync(fd);
        if (ownUid !== undefined && st.uid !== ownUid && st.uid !== 0) throw refused(file, "", `belongs to uid ${st.uid}, not to you: remove it, or name the set with --set or AUTHCTL_SET`);
        if (st.mode & 0o002) throw refused(file, "", "anyone may write it: chmod o-w it");
      },
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw refused(file, "", `could not be read (${errnoCode(error) ?? String(error)})`);
  }
  if (text === null) throw refused(file, "", "is a symlink to a missing file");
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch {
    throw refused(file, "", "is not valid YAML");
  }
  assertNoSecrets(file, raw, providers, "");
  const parsed = ProjectFileSchema.safeParse(raw);
  if (!parsed.success) throw schemaProblem(file, parsed.error);
  const { set, require = [], env = {} } = parsed.data;
  return { file, ...(set !== undefined ? { set } : {}), require, env };
}

/** The text `authctl init` writes. */
export function projectFileText(project: { set: string; require: readonly string[]; env?: Readonly<Record<string, string>> }): string {
  const lines = [
    "# authctl project file: which credential set this project's commands read, and what it needs.",
    "# Names only, never a secret (authctl refuses a file holding one). See `authctl init --help`.",
    `set: ${project.set}`,
    project.require.length > 0 ? `require: [${project.require.join(", ")}]` : "# require: [gh, anthropic]",
  ];
  const env = Object.entries(project.env ?? {});
  if (env.length > 0) lines.push("env:", ...env.map(([p, v]) => `  ${p}: ${v}`));
  else lines.push("# env: {anthropic: MY_APP_ANTHROPIC_KEY}");
  return `${lines.join("\n")}\n`;
}

/**
 * Writes `authctl.yaml` in `dir`, refusing an existing one unless `force`; the text is checked
 * as a loaded file would be before anything is written.
 */
export function writeProjectFile(dir: string, project: { set: string; require: readonly string[]; env?: Readonly<Record<string, string>> }, providers: readonly Provider[], force: boolean): string {
  const file = join(dir, PROJECT_FILE);
  const text = projectFileText(project);
  const raw = parseYaml(text);
  assertNoSecrets(file, raw, providers, "");
  const parsed = ProjectFileSchema.safeParse(raw);
  if (!parsed.success) throw schemaProblem(file, parsed.error);
  try {
    writeFileSync(file, text, { flag: force ? "w" : "wx", mode: 0o644 });
  } catch (error) {
    if (errnoCode(error) === "EEXIST") throw refused(file, "", "already exists: edit it, or overwrite it with `authctl init --force`");
    throw error;
  }
  return file;
}
