import { existsSync, lstatSync } from "node:fs";
import type { Authctl } from "../context.js";
import { AuthctlError } from "../core/errors.js";
import { privateDirProblem } from "../core/paths.js";
import { typedCredential, secretOf } from "../credentials/table.js";
import { imageExists, type Engine } from "../engine/index.js";
import { expectedAuthImage } from "../logins/container/images.js";
import { readKeyringSecret } from "../store/keyring.js";
import { passphraseFromEnv } from "../store/keySource.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import { connectService, serviceLocation } from "./connect.js";
import { resolveCredentialSet } from "./credentialSet.js";
import { describeStore } from "./status.js";
import { findProjectFile } from "./projectFile.js";

/** One line of `authctl doctor`: `detail` says what was found, `fix` what to do when it is broken. */
export interface DoctorCheck {
  name: "engine" | "mode" | "image" | "store" | "key" | "keyring" | "daemon" | "clock" | "project";
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  /** The login image to look for instead of the one built from images/auth (as `auth --image`). */
  image?: string;
}

/** A token may be issued a little ahead of this clock; beyond this, this clock is wrong. */
const SKEW_TOLERANCE_S = 120;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
const ok = (name: DoctorCheck["name"], detail: string): DoctorCheck => ({ name, ok: true, detail });
const broken = (name: DoctorCheck["name"], detail: string, fix: string): DoctorCheck => ({ name, ok: false, detail, fix });

async function engineChecks(context: Authctl, options: DoctorOptions): Promise<DoctorCheck[]> {
  let engine: Engine;
  try {
    engine = await context.engine();
  } catch (error) {
    // NoEngineError's message already names what was tried and how to install or start it.
    return [broken("engine", "no container engine answers", messageOf(error))];
  }
  const via = engine.socketPath ? `API socket ${engine.socketPath}` : "its CLI (no API socket answered)";
  const found = ok("engine", `${engine.name} ${engine.binary}, through ${via}`);
  const mode = ok("mode", engine.rootless ? "rootless" : "rootful");
  let image: string;
  try {
    image = options.image ?? expectedAuthImage(context.home, "auth");
  } catch (error) {
    // A broken config.yaml: its error names the file and the field.
    return [found, mode, broken("image", "config.yaml cannot be read", messageOf(error))];
  }
  const present = await imageExists(engine, image).catch(() => false);
  return [
    found,
    mode,
    present
      ? ok("image", `${image} is in ${engine.name}'s images`)
      : broken("image", `${image} is not in ${engine.name}'s images`, options.image ? `build or load ${options.image} into ${engine.name}, or drop --image` : "authctl image build"),
  ];
}

/** The store and what unlocks it, from its metadata: nothing is decrypted here. */
function storeChecks(context: Authctl): { checks: DoctorCheck[]; readable: boolean } {
  const { db, keyFile } = context.paths;
  const described = describeStore(context.env, context.home);
  const shared = described.backend === "postgresql";
  // A PostgreSQL store is there whether or not this host ever wrote to it: it is opened to be checked.
  if (!shared && !existsSync(db)) return { checks: [ok("store", `none yet at ${db} (the first login creates it)`)], readable: false };
  let store: ReturnType<Authctl["store"]>;
  let kind: string | undefined;
  try {
    store = context.store();
    kind = store.keyKind;
    store.list();
  } catch (error) {
    if (shared) {
      // The store's errors name the database and the likely cause; the fix is the same whichever it was.
      const fix = "check that PostgreSQL is running and answers from this host, and that AUTHCTL_STORE_URL names it (then `authctl doctor` again)";
      return { checks: [broken("store", messageOf(error), fix)], readable: false };
    }
    const fix = `move ${db} aside (and restore it from a backup), or point AUTHCTL_HOME at another home`;
    return { checks: [broken("store", `${db} cannot be read: ${messageOf(error)}`, fix)], readable: false };
  }
  const where = shared ? `${store.path}, shared by the fleet (${fleetFacts(store)})` : db;
  const checks = [ok("store", `${where}${store.readOnlyReason ? ` (read-only: ${store.readOnlyReason})` : ""}`)];
  if (kind === "keyfile") {
    const mode = existsSync(keyFile) ? lstatSync(keyFile).mode & 0o777 : undefined;
    checks.push(
      mode === undefined ? broken("key", `key file ${keyFile} is missing`, `restore ${keyFile} from a backup; without it the store cannot be read`)
      : mode & 0o077 ? broken("key", `key file ${keyFile} has mode ${mode.toString(8)}`, `chmod 600 ${keyFile}`)
      : ok("key", `key file ${keyFile} (0600)`),
    );
  } else if (kind === "scrypt") {
    checks.push(ok("key", `passphrase${passphraseFromEnv(context.env) ? " (from the environment)" : ": asked on a terminal, or held by `authctl unlock`"}`));
  } else checks.push(ok("key", kind === "keyring" ? `OS keyring (account "${store.path}")` : "none yet (the first secret creates it)"));
  return { checks, readable: true };
}

/**
 * A PostgreSQL store's schema version and its LISTEN connections: every authctl process on the
 * store holds one (this doctor's included), and a daemon without one serves nothing from its cache.
 */
function fleetFacts(store: ReturnType<Authctl["store"]>): string {
  return store.read((sql) => {
    const version = sql.get<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")?.value ?? "unknown";
    const listening = sql.get<{ n: string | number }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'authctl-listener'")?.n;
    return `schema version ${version}; ${Number(listening ?? 0)} authctl process(es) listening for changes, this one included`;
  });
}

function keyringCheck(context: Authctl, storeReadable: boolean): DoctorCheck {
  const needed = storeReadable && context.store().keyKind === "keyring";
  // A probe entry, not the store's: reachability is the question, and the store key stays where it is.
  const answer = readKeyringSecret(context.env, "authctl doctor probe");
  if (answer.ok) return ok("keyring", "the OS keyring (Secret Service) answers");
  return needed
    ? broken("keyring", `the store keeps its key in the OS keyring, which does not answer (${answer.error})`, "unlock your desktop keyring (Secret Service) and retry")
    : ok("keyring", `not reachable (${answer.error}); not needed by this store (a new store falls back to a key file or a passphrase)`);
}

function modeOf(path: string): { uid: number; mode: number } | undefined {
  try {
    const st = lstatSync(path);
    return { uid: st.uid, mode: st.mode & 0o777 };
  } catch {
    return undefined;
  }
}

/** The service's directory and sockets as a client verifies them, then the daemon itself. */
async function daemonCheck(context: Authctl): Promise<DoctorCheck> {
  const { dir, socketPath, proxySocketPath } = serviceLocation(context);
  const problem = privateDirProblem(dir);
  if (problem) return broken("daemon", `the service directory ${dir} ${problem}`, `chmod 700 ${dir} if it is yours, else remove it (its owner or root can) or point AUTHCTL_HOME at another home`);
  const uid = process.getuid?.();
  for (const path of [socketPath, proxySocketPath]) {
    const st = modeOf(path);
    if (!st) continue;
    if (uid !== undefined && st.uid !== uid) return broken("daemon", `${path} belongs to uid ${st.uid}, not to you`, `authctl serve stop, then remove ${path}`);
    if (st.mode & 0o077) return broken("daemon", `${path} has mode ${st.mode.toString(8)}`, `authctl serve stop && authctl serve --detach (the daemon makes its sockets 0600)`);
  }
  try {
    const running = await connectService(context);
    if (!running) return ok("daemon", `not running (${socketPath}; commands start it when they need it)`);
    const peer = running.peer ? `uid ${running.peer.uid}` : (running.peerUnchecked ?? "peer unchecked");
    return ok("daemon", `pid ${running.health.pid} (${peer}) at ${socketPath} (0600)${running.health.proxy ? `, proxy ${running.health.proxy.socket}` : ""}`);
  } catch (error) {
    return broken("daemon", messageOf(error), error instanceof AuthctlError ? `remove ${dir} (its owner or root can), or point AUTHCTL_HOME at another home` : "authctl serve stop && authctl serve --detach");
  }
}

/** The `iat` of a JWT, if the secret is one; the signature is not checked: only the issuer's clock is wanted. */
function issuedAt(secret: string): number | undefined {
  const parts = secret.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const iat = (JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as { iat?: unknown }).iat;
    return typeof iat === "number" && Number.isFinite(iat) ? iat : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This clock against the newest token issue time the store holds. A passphrase store with no
 * passphrase in the environment is not unlocked for this: the line says so instead of asking.
 */
function clockCheck(context: Authctl): DoctorCheck {
  const store = context.store();
  if (store.needsPassphrasePrompt()) return ok("clock", "not compared (the store is locked; set AUTHCTL_PASSPHRASE to compare against its tokens)");
  let newest: { iat: number; name: string } | undefined;
  try {
    for (const info of store.list()) {
      const row = store.get(info.credentialSet, info.provider);
      const secret = row && secretOf(typedCredential(row));
      const iat = secret === undefined ? undefined : issuedAt(secret);
      if (iat !== undefined && (!newest || iat > newest.iat)) newest = { iat, name: `${info.credentialSet}:${info.provider}` };
    }
  } catch (error) {
    return ok("clock", `not compared (${messageOf(error)})`);
  }
  if (!newest) return ok("clock", "not compared (no stored token carries an issue time)");
  const ahead = Math.round(newest.iat - context.clock.now() / 1000);
  return ahead > SKEW_TOLERANCE_S
    ? broken("clock", `${newest.name} was issued ${ahead} s in this clock's future: this clock is behind`, "sync the clock (`timedatectl set-ntp true`, or your NTP client)")
    : ok("clock", `within ${SKEW_TOLERANCE_S} s of ${newest.name}'s issuer`);
}

/** The nearest authctl.yaml, when there is one: it loads, and the providers it requires are stored (metadata only). */
function projectCheck(context: Authctl, storeReadable: boolean): DoctorCheck | undefined {
  const file = context.cwd === undefined ? undefined : findProjectFile(context.cwd);
  if (!file) return undefined;
  let resolved: ReturnType<typeof resolveCredentialSet>;
  try {
    resolved = resolveCredentialSet(context);
  } catch (error) {
    return broken("project", messageOf(error), `edit ${file} (names only: set, require, env), or remove it`);
  }
  const { credentialSet, project } = resolved;
  const required = project?.require ?? [];
  const stored = new Set(storeReadable ? context.store().list({ credentialSet }).map((c) => c.provider) : []);
  const missing = required.filter((p) => !stored.has(p));
  if (missing.length === 0) return ok("project", `${file} (set ${credentialSet}${required.length ? `, requires ${required.join(", ")}` : ""})`);
  const roster = context.roster();
  const fixes = missing.map((p) => (roster.has(p) ? fixCommandFor(roster.get(p), credentialSet) : `authctl key ${p}`));
  return broken("project", `${file} requires ${missing.join(", ")}, not stored in set ${credentialSet}`, fixes.join("; "));
}

/**
 * What `authctl doctor` checks, in order: engine, rootful or rootless, the login image, the store
 * and its key, the keyring, the daemon and its sockets, the clock, and the nearest project file. Never throws for a broken
 * part (that is a failing line with its fix), never prints, and never shows a secret.
 */
export async function doctor(context: Authctl, options: DoctorOptions = {}): Promise<DoctorCheck[]> {
  const checks = await engineChecks(context, options);
  const store = storeChecks(context);
  checks.push(...store.checks);
  checks.push(keyringCheck(context, store.readable));
  checks.push(await daemonCheck(context));
  if (store.readable) checks.push(clockCheck(context));
  const project = projectCheck(context, store.readable);
  if (project) checks.push(project);
  return checks;
}
