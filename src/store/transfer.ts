import { createHash } from "node:crypto";
import { StoreError } from "../core/errors.js";
import type { CredentialStore } from "./store.js";

export interface TransferResult {
  /** Rows written to the target by this run. */
  copied: number;
  /** Rows the target already held with the same kind, expiry and payload: left as they were. */
  identical: number;
  /** Rows read back from the target after the copy: decrypted with its store key, payload digest equal to the source's. */
  verified: number;
}

export interface TransferOptions {
  /** Replace a target row that differs from the source's (same set and provider); refused otherwise. */
  overwrite?: boolean;
}

type Dump = ReturnType<CredentialStore["sealedRows"]>;
type SealedRow = Dump["rows"][number];

const rowName = (row: { credential_set: string; provider: string }) => `${row.credential_set}:${row.provider}`;

/**
 * What a row's secret is, without holding it: the SHA-256 of its payload as JSON, decrypted with
 * the store's key (a row that does not decrypt throws, naming it). Both sides are digested the same
 * way, so equal digests mean equal payloads.
 */
function payloadDigest(store: CredentialStore, row: { credential_set: string; provider: string }): string | undefined {
  const stored = store.get(row.credential_set, row.provider);
  return stored && createHash("sha256").update(JSON.stringify(stored.payload)).digest("hex");
}

/** The key rows that say which key seals a store (its kind, salt and check value). */
const keyOf = (meta: Dump["meta"]) => JSON.stringify(Object.fromEntries(Object.entries(meta).sort()));

/**
 * Copies every credential row of `source` into `target` as it is stored (sealed: the set, provider
 * and kind are its associated data, so it opens under the same key on any backend), then reads
 * each back from the target to verify it before reporting success. The source is only read.
 * Phantom tokens, sessions and leases are not copied: they belong to the daemons of a store, and
 * agents get new sessions from the store they use next.
 */
export function transferStore(source: CredentialStore, target: CredentialStore, where: { from: string; to: string }, options: TransferOptions = {}): TransferResult {
  const dump = source.sealedRows();
  const targetDump = target.sealedRows();
  if (Object.keys(targetDump.meta).length > 0 && Object.keys(dump.meta).length > 0 && keyOf(targetDump.meta) !== keyOf(dump.meta)) {
    throw new StoreError(
      `${where.to} is sealed with another store key than ${where.from}: rows copied there would not open; migrate into an empty store, or one created from this store`,
    );
  }
  // Every source row must open and digest here before anything is written anywhere.
  const digests = new Map(dump.rows.map((row) => [rowName(row), payloadDigest(source, row)!]));
  const there = new Map(targetDump.rows.map((row) => [rowName(row), row]));
  const toCopy: SealedRow[] = [];
  const differing: string[] = [];
  let identical = 0;
  for (const row of dump.rows) {
    const existing = there.get(rowName(row));
    if (!existing) toCopy.push(row);
    else if (existing.kind === row.kind && existing.expires_at === row.expires_at && payloadDigest(target, existing) === digests.get(rowName(row))) identical++;
    else differing.push(rowName(row));
  }
  if (differing.length > 0 && !options.overwrite) {
    throw new StoreError(
      `${where.to} already holds a different credential for ${differing.join(", ")}: nothing was copied; pass --overwrite to replace ${differing.length === 1 ? "it" : "them"} with the one${differing.length === 1 ? "" : "s"} from ${where.from}`,
    );
  }
  if (differing.length > 0) toCopy.push(...dump.rows.filter((row) => differing.includes(rowName(row))));
  if (toCopy.length > 0) target.importSealed(toCopy, dump.meta);
  const verified = verify(target, dump.rows, digests, where.to);
  return { copied: toCopy.length, identical, verified };
}

/** Reads every source row back from the target: present, decrypting with the target's key, same payload digest. */
function verify(target: CredentialStore, rows: readonly SealedRow[], digests: ReadonlyMap<string, string>, to: string): number {
  const held = new Set(target.sealedRows().rows.map(rowName));
  const missing = rows.filter((row) => !held.has(rowName(row))).map(rowName);
  if (missing.length > 0) throw new StoreError(`after the copy, ${to} lacks ${missing.join(", ")}: the copy did not verify; the source is unchanged, run the migration again`);
  const wrong = rows.filter((row) => payloadDigest(target, row) !== digests.get(rowName(row))).map(rowName);
  if (wrong.length > 0) throw new StoreError(`after the copy, ${wrong.join(", ")} in ${to} differ from the source: the copy did not verify; the source is unchanged, run the migration again with --overwrite`);
  return rows.length;
}
