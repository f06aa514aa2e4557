import { readFileSync } from "node:fs";
import { auditFiles, chainFields, GENESIS, lineHash, macMatches, splitLines, type ChainFields } from "./auditChain.js";

export type AuditTamperKind = "edited" | "inserted" | "reordered" | "deleted" | "checkpoint" | "truncated";

export interface AuditProblem {
  kind: AuditTamperKind;
  file: string;
  /** 1-based; 0 when the problem is the store's copy of the newest checkpoint. */
  line: number;
  message: string;
}

export interface AuditVerdict {
  ok: boolean;
  files: string[];
  lines: number;
  checkpoints: number;
  /** Where the chain starts after lines written before it existed (they prove nothing). */
  unchainedBefore?: { file: string; line: number };
  warnings: string[];
  problem?: AuditProblem;
}

export interface AuditTrust {
  /** The checkpoint key (store subkey); undefined when the store has no key. */
  key: Buffer | undefined;
  /** The newest checkpoint line as the store kept it. */
  lastCheckpoint: string | undefined;
  /** Named in a problem with the store's copy. */
  storePath: string;
}

interface Entry {
  file: string;
  line: number;
  bytes: Buffer;
  hash: string;
  fields: ChainFields | undefined;
  json: boolean;
}

const at = (e: Entry) => `${e.file}:${e.line}`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function isJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString("utf8"));
    return true;
  } catch {
    return false;
  }
}

function readEntries(files: string[]): Entry[] {
  return files.flatMap((file) =>
    splitLines(readFileSync(file)).lines.map((bytes, i) => ({ file, line: i + 1, bytes, hash: lineHash(bytes), fields: chainFields(bytes), json: isJson(bytes) })),
  );
}

/**
 * Walks every file of the log in order and names the first line that breaks the chain, by what
 * explains the break best: a line the next one skips (inserted), a seq gap no later line fills
 * (deleted) or does fill (reordered), a line whose hash no longer matches (edited), a checkpoint
 * the key does not sign, or a log shorter than the store's newest checkpoint (truncated).
 */
export function verifyAuditLog(path: string, trust: AuditTrust): AuditVerdict {
  const files = auditFiles(path);
  const entries = readEntries(files);
  const verdict: AuditVerdict = { ok: true, files, lines: entries.length, checkpoints: 0, warnings: [] };
  const fail = (kind: AuditTamperKind, where: { file: string; line: number }, message: string): AuditVerdict => ({
    ...verdict,
    ok: false,
    problem: { kind, file: where.file, line: where.line, message: `${where.file}${where.line ? `:${where.line}` : ""}: ${message}` },
  });
  const first = entries.findIndex((e) => e.fields);
  if (first === -1) {
    if (entries.length > 0) verdict.warnings.push(`no line is chained: all ${entries.length} lines are unchained history, written before the chain (they prove nothing)`);
    return trust.lastCheckpoint ? fail("truncated", { file: path, line: 0 }, "the store keeps a signed checkpoint, but the log holds no chained line: it was emptied or replaced") : verdict;
  }
  if (first > 0) {
    verdict.unchainedBefore = { file: entries[first]!.file, line: entries[first]!.line };
    verdict.warnings.push(`unchained history before ${at(entries[first]!)}: ${plural(first, "line")} written before the chain (they prove nothing)`);
  }
  let last = -1;
  let lastCheckpoint = -1;
  for (let i = first; i < entries.length; i++) {
    const e = entries[i]!;
    if (!e.fields) {
      if (e.json) return fail("inserted", e, "a line without a place in the chain (no seq and prev) after the chain began: inserted");
      // Not JSON: a line cut short by a crash; the next line's link tells whether it was there when written.
      verdict.warnings.push(`${at(e)}: a line cut short (a crash while writing)`);
      continue;
    }
    const expectedPrev = i === 0 ? GENESIS : entries[i - 1]!.hash;
    const expectedSeq = last === -1 ? 1 : entries[last]!.fields!.seq + 1;
    if (e.fields.prev !== expectedPrev || e.fields.seq !== expectedSeq) return fail(...explainBreak(entries, i, last, expectedSeq));
    if (e.fields.type === "checkpoint") {
      verdict.checkpoints++;
      if (!trust.key) return fail("checkpoint", e, "a checkpoint, but the store has no key to check it with: the log does not belong to this store");
      if (!macMatches(trust.key, e.fields)) return fail("checkpoint", e, "checkpoint mac is wrong: not signed with this store's key (forged or edited)");
      lastCheckpoint = i;
    }
    last = i;
  }
  const lastSeq = entries[last]!.fields!.seq;
  if (trust.lastCheckpoint !== undefined) {
    const kept = chainFields(trust.lastCheckpoint);
    const store = { file: trust.storePath, line: 0 };
    if (!kept || kept.type !== "checkpoint" || !trust.key || !macMatches(trust.key, kept)) return fail("checkpoint", store, "the store's copy of the newest checkpoint is not signed with this store's key");
    if (kept.seq > lastSeq) {
      return fail("truncated", entries[entries.length - 1]!, `the log ends at seq ${lastSeq}, but the store's newest checkpoint is seq ${kept.seq}: at least ${plural(kept.seq - lastSeq, "line")} cut from the tail`);
    }
    const same = entries.find((e) => e.fields?.seq === kept.seq);
    if (!same || !same.bytes.equals(Buffer.from(trust.lastCheckpoint))) {
      return fail("edited", same ?? entries[last]!, `differs from the checkpoint the store kept for seq ${kept.seq}: the log was rewritten from here`);
    }
  }
  const unsigned = entries.slice(lastCheckpoint + 1).filter((e) => e.fields).length;
  if (unsigned > 0) {
    const after = lastCheckpoint === -1 ? "with no checkpoint yet" : `after the last checkpoint (${at(entries[lastCheckpoint]!)})`;
    verdict.warnings.push(`the log ends ${plural(unsigned, "line")} ${after}: a writer is still running or did not stop cleanly; those lines are chained but not signed`);
  }
  return verdict;
}

/** The seq the chained line after entry `index` should carry. */
function seqAfter(entries: Entry[], index: number): number {
  for (let k = index; k >= 0; k--) if (entries[k]!.fields) return entries[k]!.fields!.seq + 1;
  return 1;
}

function explainBreak(entries: Entry[], i: number, last: number, expectedSeq: number): [AuditTamperKind, Entry, string] {
  const e = entries[i]!;
  const { seq, prev } = e.fields!;
  const before = entries[i - 1];
  if (!before) return ["deleted", e, `the chain's first line follows a line that is not there (seq ${seq}): earlier lines or files deleted`];
  // Links to the line two back, with the seq that follows it: the line between was slipped in.
  if (i - 2 >= 0 && prev === entries[i - 2]!.hash && seq === seqAfter(entries, i - 2)) return ["inserted", before, "this line is not in the chain (the next line links past it): inserted"];
  const linked = prev === before.hash;
  if (linked) return ["edited", e, `seq ${seq} where ${expectedSeq} belongs: the line was edited`];
  if (seq === expectedSeq) {
    const next = entries[i + 1];
    if (next?.fields && next.fields.prev !== e.hash) return ["edited", e, "its prev no longer matches the line before: the line was edited"];
    return ["edited", before, "its hash no longer matches the prev of the next line: the line was edited"];
  }
  if (seq > expectedSeq) {
    const later = entries.slice(i + 1).find((x) => x.fields && x.fields.seq >= expectedSeq && x.fields.seq < seq);
    if (later) return ["reordered", e, `seq ${seq} comes before seq ${later.fields!.seq} (${at(later)}): lines reordered`];
    const missing = seq - expectedSeq;
    return ["deleted", e, `${plural(missing, "line")} (seq ${expectedSeq}${missing > 1 ? `–${seq - 1}` : ""}) missing before this line: deleted`];
  }
  const copy = entries.slice(0, i).find((x) => x.bytes.equals(e.bytes));
  if (copy) return ["inserted", e, `a copy of ${at(copy)}: inserted`];
  return ["reordered", e, `seq ${seq} comes after seq ${last === -1 ? 0 : entries[last]!.fields!.seq}: lines reordered`];
}
