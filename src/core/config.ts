import { createRequire } from "node:module";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type * as Yaml from "yaml";
import * as z from "zod";
import { lazy } from "./lazy.js";
import { UsageError } from "./errors.js";
import { isImageReference } from "./imageRef.js";
import { ensurePrivateDir } from "./paths.js";
import { errnoCode, readRegularFileSync } from "./regularFile.js";
import { parseYaml } from "./yaml.js";

export const CONFIG_FILE = "config.yaml";
const MAX_CONFIG_BYTES = 64 * 1024;

const imageRef = lazy(() => z.string().refine(isImageReference, "must be an image reference (e.g. localhost/authctl-auth:latest)"));

/** One image key under images/ (`auth`): what `image build` builds FROM, and what `auth` runs instead of building. */
const ImageSettingsSchema = lazy(() => z.strictObject({
  base: imageRef.optional(),
  image: imageRef.optional(),
}));

const ConfigSchema = lazy(() => z.strictObject({
  images: z.record(z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must be an image key under images/ (e.g. auth)"), ImageSettingsSchema).optional(),
}));

export type AuthctlConfig = z.infer<typeof ConfigSchema>;
export type ImageSettings = z.infer<typeof ImageSettingsSchema>;

export const configPath = (home: string) => join(home, CONFIG_FILE);

const refused = (file: string, field: string, problem: string) =>
  new UsageError(`config file ${file}: ${field ? `${field}: ` : ""}${problem}; fix or remove it (\`authctl image build --base <ref>\` rewrites images.<key>.base)`);

const fieldOf = (path: readonly PropertyKey[]) => path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`)).join("");

function schemaProblem(file: string, error: z.ZodError): UsageError {
  const issue = error.issues[0]!;
  const at = fieldOf(issue.path);
  if (issue.code === "unrecognized_keys") {
    const key = /^[\w.-]{1,40}$/.test(issue.keys[0]!) ? issue.keys[0]! : "(a key not shown)";
    return refused(file, at ? `${at}.${key}` : key, "unknown key (known: images.<key>.base, images.<key>.image)");
  }
  return refused(file, at || "(top level)", issue.message);
}

/** `$AUTHCTL_HOME/config.yaml`, checked; {} when there is none. */
export function loadConfig(home: string): AuthctlConfig {
  const file = configPath(home);
  let text: string | null;
  try {
    text = readRegularFileSync(file, { limit: MAX_CONFIG_BYTES, followSymlinks: true, refuse: (problem) => refused(file, "", problem) });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw refused(file, "", `could not be read (${errnoCode(error) ?? String(error)})`);
  }
  if (text === null) return {};
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch {
    throw refused(file, "", "is not valid YAML");
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw schemaProblem(file, parsed.error);
  return parsed.data;
}

/** The settings for images/<key>, {} when the file says nothing about it. */
export function imageSettings(home: string, key: string): ImageSettings {
  return loadConfig(home).images?.[key] ?? {};
}

let yaml: typeof Yaml | undefined;

/**
 * Sets `images.<key>.<field>` in the config file, keeping the rest of it (comments included); the
 * result is checked as a loaded file would be before it replaces the old one.
 */
export function recordImageSetting(home: string, key: string, field: keyof ImageSettings, value: string): void {
  loadConfig(home);
  const file = configPath(home);
  yaml ??= createRequire(import.meta.url)("yaml") as typeof Yaml;
  const text = readRegularFileSync(file, { limit: MAX_CONFIG_BYTES, followSymlinks: true, refuse: (problem) => refused(file, "", problem) });
  const doc = text === null ? new yaml.Document({}) : yaml.parseDocument(text);
  if (text === null) doc.commentBefore = " authctl settings (docs/images.md); `authctl image build --base <ref>` records images.<key>.base";
  doc.setIn(["images", key, field], value);
  const next = doc.toString();
  const parsed = ConfigSchema.safeParse(parseYaml(next));
  if (!parsed.success) throw schemaProblem(file, parsed.error);
  ensurePrivateDir(home);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, next, { mode: 0o600 });
  renameSync(temp, file);
}
