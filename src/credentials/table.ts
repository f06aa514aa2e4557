import { InvalidCredentialError } from "../core/errors.js";
import type { CredentialKind, StoredCredential } from "../store/store.js";
import { apiKey, type ApiKeyPayload } from "./apiKey.js";
import { commandSource, type CommandSourcePayload } from "./commandSource.js";
import { containerLogin, type ContainerLoginPayload } from "./containerLogin.js";
import { google, type GooglePayload } from "./google.js";
import { msal, type MsalPayload } from "./msal.js";
import { oauth2, type OAuth2Payload } from "./oauth2.js";
import type { CredentialType } from "./type.js";


/** Every payload authctl stores, told apart by `type`. */
export type CredentialPayload = ApiKeyPayload | CommandSourcePayload | ContainerLoginPayload | OAuth2Payload | MsalPayload | GooglePayload;
export type PayloadType = CredentialPayload["type"];

/** The one table delivery code asks: payload `type` → what it is and how it behaves. */
export const CREDENTIAL_TYPES: { readonly [T in PayloadType]: CredentialType<Extract<CredentialPayload, { type: T }>> } = {
  api_key: apiKey,
  command: commandSource,
  oauth: containerLogin,
  oauth2,
  msal,
  google_oauth: google,
};

const isType = (type: unknown): type is PayloadType => typeof type === "string" && Object.prototype.hasOwnProperty.call(CREDENTIAL_TYPES, type);

/** The behaviour of a payload's type (the payload already checked or upgraded). */
export function credentialType<P extends CredentialPayload>(payload: P): CredentialType<P> {
  return CREDENTIAL_TYPES[payload.type] as unknown as CredentialType<P>;
}

const has = (payload: Record<string, unknown>, field: string) => payload[field] !== undefined;

/**
 * A payload of an older shape, without `type`, as today's: its kind column and its fields say
 * which it was. A payload that already names a known type is returned as it is.
 */
export function upgradePayload(kind: CredentialKind, payload: unknown): unknown {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return payload;
  const p = payload as Record<string, unknown>;
  if (isType(p.type)) return payload;
  const as = (type: PayloadType) => ({ ...p, type });
  if (kind === "api_key" && has(p, "key")) return as("api_key");
  if (kind === "command" && has(p, "command")) return as("command");
  if (has(p, "files") && has(p, "accessToken")) return as("oauth");
  if (has(p, "tokenCache")) return as("msal");
  if (has(p, "tokens")) return as("google_oauth");
  if (has(p, "access_token")) return { clientId: "", ...as("oauth2"), ...(kind === "oauth" ? { grant: "authorization_code" } : {}) };
  return payload;
}

/** The payload upgraded from an older shape when `kind` says it is a stored one, and its type; else the error naming the row. */
function typeOf(where: string, kind: CredentialKind | undefined, payload: unknown): { upgraded: Record<string, unknown>; type: PayloadType } {
  const upgraded = (kind === undefined ? payload : upgradePayload(kind, payload)) as Record<string, unknown> | null;
  const type = upgraded?.type;
  if (!isType(type)) {
    throw new InvalidCredentialError(
      `${where}: the ${kind ?? "new"} payload is of no known type (type ${JSON.stringify(typeof type === "string" ? type.slice(0, 40) : type ?? null)}; known: ${Object.keys(CREDENTIAL_TYPES).join(", ")}); store it again`,
    );
  }
  return { upgraded: upgraded!, type };
}

const invalid = (where: string, type: PayloadType, path: PropertyKey[], message: string) =>
  new InvalidCredentialError(`${where}: the ${type} payload's ${path.map(String).join(".") || "value"} ${message}; store it again`);

/**
 * Checks a payload against its type's zod schema, a stored one (`kind` given) upgraded from an
 * older shape first: for a payload being written, or one from outside (the service's put).
 * `where` names the row in the error ("default:gh"), which lists the failing field and the known types.
 */
export function parsePayload(where: string, kind: CredentialKind | undefined, payload: unknown): CredentialPayload {
  const { upgraded, type } = typeOf(where, kind, payload);
  const parsed = (CREDENTIAL_TYPES[type].schema as CredentialType["schema"])().safeParse(upgraded);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(where, type, issue.path, issue.message);
  }
  return parsed.data as CredentialPayload;
}

/**
 * A payload read back from the store, upgraded and checked against its type's rules without
 * zod (its write went through parsePayload): a row that fails is refused as parsePayload would.
 */
export function readPayload(where: string, kind: CredentialKind, payload: unknown): CredentialPayload {
  const { upgraded, type } = typeOf(where, kind, payload);
  const { shape, defaults } = CREDENTIAL_TYPES[type] as CredentialType;
  const issue = shape(upgraded, []);
  if (issue) throw invalid(where, type, issue.path, issue.message);
  const filled = defaults && Object.entries(defaults).filter(([field]) => upgraded[field] === undefined);
  return (filled?.length ? { ...upgraded, ...Object.fromEntries(filled) } : upgraded) as CredentialPayload;
}

/** A stored row with its payload upgraded and checked: what every reader after the store sees. */
export function typedCredential(row: StoredCredential): StoredCredential<CredentialPayload> {
  return { ...row, payload: readPayload(`${row.credentialSet}:${row.provider}`, row.kind, row.payload) };
}

type Named = Pick<StoredCredential, "kind" | "payload"> & Partial<Pick<StoredCredential, "credentialSet" | "provider">>;
const nameOf = (c: Named) => `${c.credentialSet ?? "?"}:${c.provider ?? "?"}`;

/** The secret a credential delivers, whatever its type; undefined when it holds none. */
export function secretOf(credential: Named): string | undefined {
  const payload = readPayload(nameOf(credential), credential.kind, credential.payload);
  const secret = credentialType(payload).secret(payload);
  return typeof secret === "string" && secret.length > 0 ? secret : undefined;
}

/** Whether a credential is delivered as an API key or as a login's token (the roster's `delivery` and `proxy` modes). */
export function modeOf(credential: Named): "api_key" | "oauth" {
  return credentialType(readPayload(nameOf(credential), credential.kind, credential.payload)).mode;
}

