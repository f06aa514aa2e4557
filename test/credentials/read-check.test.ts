import { describe, expect, it } from "vitest";
import { InvalidCredentialError } from "../../src/core/errors.js";
import { CREDENTIAL_TYPES, parsePayload, readPayload, type PayloadType } from "../../src/credentials/index.js";
import type { CredentialType } from "../../src/credentials/type.js";
import { canary } from "../helpers/env.js";

/** One payload of each type with every field its schema knows, nested lists and objects filled. */
const FULL: Record<PayloadType, Record<string, unknown>> = {
  api_key: { type: "api_key", key: "sk-1" },
  command: { type: "command", command: ["cat", "f"], timeout_ms: 5000, cache_ttl_s: 60, origin: "roster", cached: { key: "k", until: 1 }, key: "out" },
  oauth: {
    type: "oauth",
    provider: "gh",
    files: { "hosts.yml": "x" },
    accessToken: "gho_1",
    refreshToken: "r",
    account: "dev",
    accounts: [{ name: "github.com", user: "dev", accessToken: "gho_1", refreshToken: "r" }],
  },
  oauth2: { type: "oauth2", clientId: "c", clientSecret: "s", grant: "device_code", access_token: "a", refresh_token: "r", token_type: "Bearer", scope: "x", expires_at: 1 },
  msal: { type: "msal", clientId: "c", tenantId: "t", scopes: ["s"], homeAccountId: "h", username: "u", tokenCache: "{}" },
  google_oauth: {
    type: "google_oauth",
    clientId: "c",
    clientSecret: "s",
    scopes: ["s"],
    tokens: { access_token: "a", refresh_token: "r", expiry_date: 1, token_type: "Bearer", scope: "x", id_token: "i" },
  },
};

/** Values a damaged or hand-edited row could hold in any field. */
const ODD = [undefined, null, "", "x", 0, -1, 1.5, 2 ** 60, Number.NaN, true, [], [""], ["x"], [1], {}, { a: "x" }, { a: 1 }];

type Path = (string | number)[];
/** Every field path of a value, nested ones included. */
function paths(value: unknown, at: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...at, i], ...paths(v, [...at, i])]);
  if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => [[...at, k], ...paths(v, [...at, k])]);
  return [];
}

function withField(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
  const [head, ...rest] = path as [string | number, ...Path];
  if (rest.length === 0 && replacement === DELETE) delete copy[head];
  else copy[head] = withField(copy[head], rest, replacement);
  return copy;
}
const DELETE = Symbol("delete");

/** The full payload, one field at a time deleted or set to each odd value, and the bare minimum of each type. */
function variants(type: PayloadType): unknown[] {
  const full = FULL[type];
  const out: unknown[] = [full];
  for (const path of paths(full)) for (const v of [DELETE, ...ODD]) out.push(withField(full, path, v));
  for (const v of ODD) out.push(v);
  return out;
}

describe("a stored payload's read check (src/credentials/shape.ts) holds it to its type's zod schema", () => {
  it.each(Object.keys(FULL) as PayloadType[])("%s: the read check and the schema accept the same payloads and name the same first field", (type) => {
    const { schema, shape } = CREDENTIAL_TYPES[type] as CredentialType;
    let rejected = 0;
    for (const payload of variants(type)) {
      const parsed = schema().safeParse(payload);
      const issue = shape(payload, []);
      const shown = JSON.stringify(payload) ?? String(payload);
      expect(issue === undefined, `${shown}: zod says ${parsed.success ? "ok" : parsed.error.issues[0]!.message}, the read check ${issue?.message ?? "ok"}`).toBe(parsed.success);
      if (!parsed.success) {
        rejected++;
        expect(issue!.path, shown).toEqual(parsed.error.issues[0]!.path);
      }
    }
    // The variants do reach both sides of the line: a check that let everything through would fail above.
    expect(rejected).toBeGreaterThan(10);
  });

  it("a stored row read back equals what the schema would have made of it: upgraded, defaults filled", () => {
    const token = canary("gho_");
    const old = { files: { "hosts.yml": "x" }, accessToken: token };
    expect(readPayload("default:gh", "oauth", old)).toEqual(parsePayload("default:gh", "oauth", old));
    expect(readPayload("default:gh", "oauth", old)).toMatchObject({ type: "oauth", provider: "" });
    for (const type of Object.keys(FULL) as PayloadType[]) {
      const kind = CREDENTIAL_TYPES[type].kind(FULL[type] as never);
      expect(readPayload("default:x", kind, FULL[type])).toEqual(parsePayload("default:x", kind, FULL[type]));
    }
  });

  it("a damaged row is refused on read naming the row and the field, never showing the secret", () => {
    const secret = canary("sk_live_");
    const read = () => readPayload("work:stripe", "api_key", { type: "api_key", key: 42, note: secret });
    expect(read).toThrow(InvalidCredentialError);
    expect(read).toThrow(/^work:stripe: the api_key payload's key must be a string; store it again$/);
    expect(() => readPayload("work:gh", "oauth", { type: "oauth", files: {}, accessToken: secret, accounts: [{ name: "h", accessToken: "" }] })).toThrow(
      /^work:gh: the oauth payload's accounts\.0\.accessToken must not be empty; store it again$/,
    );
  });
});
