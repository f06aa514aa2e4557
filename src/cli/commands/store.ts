import { Command } from "commander";
import { statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { UsageError } from "../../core/errors.js";
import { storePaths } from "../../core/paths.js";
import { describeUrl } from "../../store/postgres/location.js";
import type { CredentialStore } from "../../store/store.js";
import type { Factory } from "../factory.js";
import { out, printJson } from "../io.js";

export interface StoreMigrateOptions {
  to: string;
  from?: string;
  overwrite?: boolean;
  json?: boolean;
}

/** Where a store lives, as `--from`/`--to` name it, and how to say so without a password. */
interface Location {
  home: string;
  url: string | undefined;
  label: string;
}

const isPostgresUrl = (text: string) => /^postgres(ql)?:\/\//i.test(text);

/**
 * `sqlite` is this home's SQLite file; another path names a home directory or its credentials.db;
 * a postgres:// URL a PostgreSQL store (the key still comes from this home's key sources).
 */
function locate(f: Factory, spec: string, flag: string): Location {
  if (isPostgresUrl(spec)) return { home: f.home, url: spec, label: describeUrl(spec).label };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new UsageError(`${flag} takes a postgres:// URL, \`sqlite\` or a home's path; the scheme of ${JSON.stringify(spec.split(":")[0])} is not a store authctl knows`);
  if (spec === "sqlite") return { home: f.home, url: undefined, label: storePaths(f.home).db };
  const path = resolve(f.io.cwd ?? ".", spec);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // A home that does not exist yet: the migration creates its SQLite file.
  }
  const home = isFile || basename(path) === "credentials.db" ? dirname(path) : path;
  return { home, url: undefined, label: storePaths(home).db };
}

async function openAt(f: Factory, where: Location): Promise<CredentialStore> {
  const { CredentialStore } = await import("../../store/store.js");
  const env = { ...f.io.env, AUTHCTL_STORE_URL: where.url };
  return CredentialStore.open({ home: where.home, env });
}

/**
 * `authctl store migrate --to <url|sqlite>`: every credential row copied sealed into the other
 * store, and read back there (count, decryption with its key, payload digest) before it reports
 * success. The source is never written; pointing authctl at the target (AUTHCTL_STORE_URL) is the
 * user's step, once the copy verified.
 */
export async function runStoreMigrate(f: Factory, opts: StoreMigrateOptions): Promise<void> {
  const current = f.io.env.AUTHCTL_STORE_URL;
  const from = locate(f, opts.from ?? (current ? current : "sqlite"), "--from");
  const to = locate(f, opts.to, "--to");
  if (from.label === to.label) throw new UsageError(`--from and --to both name ${to.label}: migrate names two different stores`);
  const { transferStore } = await import("../../store/transfer.js");
  const source = await openAt(f, from);
  try {
    const target = await openAt(f, to);
    try {
      const result = transferStore(source, target, { from: from.label, to: to.label }, { overwrite: Boolean(opts.overwrite) });
      if (opts.json) return printJson(f.io, result);
      out(f.io, `${result.copied} copied, ${result.identical} already identical, ${result.verified} verified in ${to.label} (count, decryption, payload digest); ${from.label} is unchanged`);
      if (result.copied > 0 && to.url) out(f.io, "to use it: set AUTHCTL_STORE_URL to that URL on every host (each needs the store key: the key file, keyring entry or passphrase)");
      else if (result.copied > 0) out(f.io, "to use it: unset AUTHCTL_STORE_URL");
    } finally {
      target.close();
    }
  } finally {
    source.close();
  }
}

export function storeCommand(f: Factory): Command {
  const store = new Command("store").description("the credential store itself: move it between SQLite and PostgreSQL");
  store
    .command("migrate")
    .description("copy every credential, sealed, to another store and verify it there (count, decryption, payload digest); the source is untouched")
    .requiredOption("--to <url|sqlite|path>", "the target: a postgres:// URL, `sqlite` (this home's file) or another home's path")
    .option("--from <url|sqlite|path>", "the source (default: the current store: $AUTHCTL_STORE_URL, else this home's SQLite file)")
    .option("--overwrite", "replace a target credential that differs from the source's (refused otherwise, naming it)")
    .option("--json", "print JSON: copied, identical, verified")
    .action((opts: StoreMigrateOptions) => runStoreMigrate(f, opts));
  return store;
}
