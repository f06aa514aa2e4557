import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Scope, TokenOp } from "../access/protocol.js";

/** A capability token as the service keeps it: only the sha256 of its secret, never the token. */
export interface TokenRecord {
  id: string;
  hash: Buffer;
  credentialSet: string;
  providers: ReadonlySet<string>;
  ops: ReadonlySet<TokenOp>;
  expiresAt: number;
  parent?: string;
}

const TOKEN = /^act_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;
const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** Equal-length digests compared in constant time, so a caller cannot learn a hash byte by byte. */
export function digestsEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export type Verdict = { ok: true; token: TokenRecord } | { ok: false; reason: string };

/**
 * The live capability tokens of one service, in memory: a restarted daemon forgets them (its
 * callers mint again); the store stays the source of truth for credentials.
 */
export class TokenRegistry {
  private readonly tokens = new Map<string, TokenRecord>();

  constructor(private readonly now: () => number) {}

  /** A new token for `scope`; the secret is returned once and kept only as its hash. */
  mint(scope: Scope, parent?: TokenRecord): { id: string; token: string; expiresAt: number } {
    const id = randomBytes(8).toString("hex");
    const token = `act_${id}_${randomBytes(32).toString("base64url")}`;
    const expiresAt = Math.min(this.now() + scope.ttlSeconds * 1000, parent?.expiresAt ?? Infinity);
    this.tokens.set(id, {
      id,
      hash: sha256(token),
      credentialSet: scope.credentialSet,
      providers: new Set(scope.providers),
      ops: new Set(scope.ops),
      expiresAt,
      ...(parent ? { parent: parent.id } : {}),
    });
    return { id, token, expiresAt };
  }

  /** Why `child` would be wider than `parent`, or undefined when it is within it. */
  widening(parent: TokenRecord, child: Scope): string | undefined {
    if (!parent.ops.has("mint")) return "this token may not mint tokens";
    if (child.credentialSet !== parent.credentialSet) return `a token for set ${parent.credentialSet} cannot mint one for set ${child.credentialSet}`;
    const extraProviders = child.providers.filter((p) => !parent.providers.has(p));
    if (extraProviders.length > 0) return `a token cannot grant providers it does not hold (${extraProviders.join(", ")})`;
    const extraOps = child.ops.filter((o) => !parent.ops.has(o));
    if (extraOps.length > 0) return `a token cannot grant operations it does not hold (${extraOps.join(", ")})`;
    return undefined;
  }

  verify(presented: string): Verdict {
    const match = TOKEN.exec(presented);
    const record = match ? this.tokens.get(match[1]!) : undefined;
    // Hash even when the id is unknown, so both paths cost the same.
    const hash = sha256(presented);
    if (!record || !digestsEqual(hash, record.hash)) return { ok: false, reason: "unknown or revoked token" };
    if (record.expiresAt <= this.now()) {
      this.tokens.delete(record.id);
      return { ok: false, reason: `token ${record.id} has expired` };
    }
    return { ok: true, token: record };
  }

  /** Revokes a token and every token minted from it; returns how many were removed. */
  revoke(id: string): number {
    if (!this.tokens.delete(id)) return 0;
    let removed = 1;
    for (const record of [...this.tokens.values()]) if (record.parent === id) removed += this.revoke(record.id);
    return removed;
  }

  /** Whether `ancestor` is `id` itself or one of the tokens it was minted from. */
  descendsFrom(id: string, ancestor: string): boolean {
    for (let at: string | undefined = id; at; at = this.tokens.get(at)?.parent) if (at === ancestor) return true;
    return false;
  }

  get size(): number {
    const now = this.now();
    for (const record of this.tokens.values()) if (record.expiresAt <= now) this.tokens.delete(record.id);
    return this.tokens.size;
  }
}
