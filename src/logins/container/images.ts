import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { configPath, imageSettings, recordImageSetting } from "../../core/config.js";
import { EngineError, ModeUnavailableError, UsageError } from "../../core/errors.js";
import { assertImageReference } from "../../core/imageRef.js";
import { CLIS_LABEL, clisOf, contentTag, ensureImage, imageExists, imageLabels, type Engine } from "../../engine/index.js";
import type { Provider } from "../../roster/schema.js";

/** `images/` in the package, resolved from dist/ or src/ alike. */
export const IMAGES_DIR = fileURLToPath(new URL("../../../images/", import.meta.url));
/** Makes a local base without a registry; the package ships it, so a message can name where it is. */
const BASE_SCRIPT = fileURLToPath(new URL("../../../scripts/build-auth-image.sh", import.meta.url));

export function imageKeys(): string[] {
  return readdirSync(IMAGES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(IMAGES_DIR, e.name, "Containerfile")))
    .map((e) => e.name)
    .sort();
}

function contextDirOf(key: string): string {
  const contextDir = join(IMAGES_DIR, key);
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(key) || !existsSync(join(contextDir, "Containerfile"))) {
    throw new UsageError(`no image "${key}" under ${IMAGES_DIR} (known: ${imageKeys().join(", ")})`);
  }
  return contextDir;
}

/** The default of `ARG <name>=<value>` in images/<key>/Containerfile. */
function containerfileArg(key: string, name: string): string | undefined {
  const text = readFileSync(join(contextDirOf(key), "Containerfile"), "utf8");
  return new RegExp(`^ARG ${name}=(\\S+)\\s*$`, "m").exec(text)?.[1];
}

/**
 * The CLIs images/<key> installs: its AUTHCTL_CLIS list, the same one its `io.authctl.clis` label is
 * made from; undefined when there is no such image or it keeps no list.
 */
export function declaredClis(key: string): string[] | undefined {
  if (!imageKeys().includes(key)) return undefined;
  return containerfileArg(key, "AUTHCTL_CLIS")?.split(",").filter(Boolean);
}

/** Why a provider's CLI is not in authctl's image, where there is more to say than "add it". */
const NOT_IN_IMAGE: Record<string, string> = {
  qwen: "Qwen Code (npm @qwen-code/qwen-code) needs node >= 22 and authctl's image is built for node 20: add it to images/auth/Containerfile and build on a local node 22 base (`authctl image build --base <ref>`)",
  glab: "glab is on neither npm nor Debian 12: build an image FROM authctl's that copies in GitLab's glab release binary, or store a token instead (`authctl key glab`)",
};

/** The sentence that says what a provider whose CLI is missing needs; docs/images.md has the recipes. */
export function missingCliHint(cli: string): string {
  return `${NOT_IN_IMAGE[cli] ?? `add ${cli} to images/auth/Containerfile (and to its AUTHCTL_CLIS) and run \`authctl image build\``} (docs/images.md)`;
}

export interface AuthImageOptions {
  /**
   * Image reference to build FROM (the Containerfile's `BASE` build arg); default: config.yaml's
   * images.<key>.base, else the Containerfile's own. Part of the tag's hash, so name a base by its
   * content (a new base should get a new reference, as scripts/build-auth-image.sh does).
   */
  base?: string;
  /** `$AUTHCTL_HOME`: its config.yaml gives the base when none is passed. */
  home?: string;
  /** Write the base used into config.yaml (images.<key>.base), so the next `auth` finds this build. */
  record?: boolean;
}

/** How a base that is not local is named in the error: where it came from. */
function baseOrigin(key: string, options: AuthImageOptions, configured: string | undefined): string {
  if (options.base !== undefined) return "--base";
  if (configured !== undefined) return `images.${key}.base in ${configPath(options.home!)}`;
  return `images/${key}/Containerfile's default`;
}

/** Builds `images/<key>` if its content tag is absent and returns that tag (`localhost/authctl-<key>:<hash>`). */
export async function ensureAuthImage(
  engine: Engine,
  key: string,
  onProgress?: (line: string) => void,
  options: AuthImageOptions = {},
): Promise<string> {
  const contextDir = contextDirOf(key);
  if (options.base !== undefined) assertImageReference(options.base, "--base");
  const configured = options.home === undefined ? undefined : imageSettings(options.home, key).base;
  const base = options.base ?? configured;
  const from = base ?? containerfileArg(key, "BASE");
  const buildArgs: Record<string, string> = base === undefined ? {} : { BASE: base };
  const repo = `localhost/authctl-${key}`;
  // A base that is not local would send the engine to a registry: authctl never pulls. A built
  // image needs no base (one copied from another engine, e.g. by scripts/build-auth-image.sh).
  const tag = contentTag(repo, contextDir, buildArgs);
  const built = await imageExists(engine, tag);
  if (!built && from !== undefined && !(await imageExists(engine, from))) {
    throw new UsageError(
      `base image ${from} is not in ${engine.name}'s local images (${baseOrigin(key, options, configured)}), and authctl never pulls: ` +
        `make one without a registry (as root: \`bash ${BASE_SCRIPT} --base-only\` prints its tag), then \`authctl image build --base <that tag>\`, which records it for later logins`,
    );
  }
  // Asked once: ensureImage would ask the engine about the same tag again.
  if (!built) await ensureImage(engine, { repo, contextDir, buildArgs, onProgress });
  if (options.record && options.home !== undefined && base !== undefined && base !== configured) recordImageSetting(options.home, key, "base", base);
  return tag;
}

/**
 * The image a container login runs by default: config.yaml's images.<key>.image when set (it must be
 * local), else images/<key> built on the configured base (or found, when it was built already).
 */
export async function defaultAuthImage(engine: Engine, home: string, key: string, onProgress?: (line: string) => void): Promise<string> {
  const { image } = imageSettings(home, key);
  if (image === undefined) return ensureAuthImage(engine, key, onProgress, { home });
  if (await imageExists(engine, image)) return image;
  throw new EngineError(
    `image ${image} (images.${key}.image in ${configPath(home)}) is not in ${engine.name}'s local images and authctl never pulls: build or load it, or remove that line to use authctl's own image (\`authctl image build\`)`,
  );
}

/** The tag `auth` would run now, without building anything (for a check such as doctor's). */
export function expectedAuthImage(home: string, key: string): string {
  const { image, base } = imageSettings(home, key);
  return image ?? contentTag(`localhost/authctl-${key}`, contextDirOf(key), base === undefined ? {} : { BASE: base });
}

/**
 * Refuses, before any container starts, an image the engine does not have (authctl never pulls: a
 * missing image would otherwise surface as the engine's pull attempt, docker's `Get
 * "http://localhost/v2/": connection refused` or podman's three retries) or whose `io.authctl.clis`
 * label does not list the provider's login CLI (runc would fail with "executable file not found",
 * exit 125). One engine call answers both. An image without the label (one authctl did not build)
 * is taken on trust.
 */
export async function assertLoginImage(engine: Engine, image: string, entry: Provider & { oauth: NonNullable<Provider["oauth"]> }): Promise<void> {
  const labels = await imageLabels(engine, image);
  if (!labels) {
    throw new EngineError(
      `image ${image} is missing locally in ${engine.name} (authctl never pulls images): ` +
        `run \`authctl image build\` for authctl's login image, or build or load ${image} into ${engine.name} first`,
    );
  }
  const cli = entry.oauth.command[0]!;
  const clis = clisOf(labels);
  if (clis === undefined || clis.includes(cli)) return;
  throw new ModeUnavailableError(
    `${entry.name}'s login runs the \`${cli}\` CLI, which image ${image} does not have (its ${CLIS_LABEL} label lists ${clis.join(", ") || "none"}); ${missingCliHint(cli)}. ` +
      `Then log in with an image that has it: \`authctl auth ${entry.name} --image <ref>\`, or set images.${entry.oauth.image}.image in config.yaml`,
  );
}
