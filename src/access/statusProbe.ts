import { HttpExchangeError } from "../core/errors.js";
import type { HttpReply } from "../core/http.js";
import { modeOf, secretOf } from "../credentials/index.js";
import type { Probe } from "../roster/probeSchema.js";
import type { Roster } from "../roster/load.js";
import type { Provider } from "../roster/schema.js";
import type { CredentialStore, StoredCredential } from "../store/store.js";

/**
 * `ok`: the upstream accepted the credential. `rejected`: it answered 401 or 403. `failed`: no
 * usable answer (unreachable, timeout, another status). `skipped`: nothing to probe with.
 */
export type ProbeResult = "ok" | "rejected" | "failed" | "skipped";

export interface ProbeOutcome {
  result: ProbeResult;
  /** The account the upstream named (login, email, plan), never the secret. */
  identity?: string;
  /** What happened, naming the host and the status. */
  detail: string;
}

const PROBE_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 1 << 20;
const MAX_IDENTITY_CHARS = 200;

/** The probe for this credential's mode, its upstream and header taken from the mode's proxy route where the probe names none. */
function resolvedProbe(entry: Provider, mode: "api_key" | "oauth"): (Required<Pick<Probe, "base_url" | "header">> & Probe) | undefined {
  const probe = entry.probe?.[mode];
  if (!probe) return undefined;
  const route = entry.proxy?.[mode];
  const base_url = probe.base_url ?? route?.base_url;
  if (!base_url) return undefined;
  return { ...probe, base_url, header: probe.header ?? route?.header ?? "authorization" };
}

function probeUrl(base: string, path: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  return url;
}

function field(json: unknown, path: string): unknown {
  let at = json;
  for (const part of path.split(".")) {
    if (at === null || typeof at !== "object" || !Object.prototype.hasOwnProperty.call(at, part)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** The identity fields the probe names, as one line; a value holding the secret is never shown. */
function identityOf(text: string, fields: readonly string[], secret: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const values = fields
    .map((f) => field(json, f))
    .filter((v): v is string | number => (typeof v === "string" && v.length > 0) || typeof v === "number")
    .map((v) => String(v).replace(/\p{Cc}/gu, "").slice(0, MAX_IDENTITY_CHARS))
    .filter((v) => !v.includes(secret));
  return values.length ? values.join(" · ") : undefined;
}

function failure(e: unknown): string {
  if (e instanceof HttpExchangeError) return e.message;
  return (e as { code?: string }).code ?? (e as Error).message;
}

/**
 * One cheap authenticated GET with the stored secret, where the roster declares a probe for the
 * credential's mode. The secret goes only in the credential header; a redirect is never followed
 * (it would carry the header to another host): it is a failed probe.
 */
export async function probeCredential(row: StoredCredential, entry: Provider | undefined, signal?: AbortSignal): Promise<ProbeOutcome> {
  const mode = modeOf(row);
  const probe = entry && resolvedProbe(entry, mode);
  if (!probe) return { result: "skipped", detail: `no probe for ${row.provider}'s ${mode} in the roster` };
  const secret = secretOf(row);
  if (!secret) return { result: "skipped", detail: "holds no secret until first used (a command source)" };
  const url = probeUrl(probe.base_url, probe.path);
  const host = url.host;
  const headers: Record<string, string> = { accept: "application/json", ...probe.headers };
  headers[probe.header] = probe.header === "authorization" ? `Bearer ${secret}` : secret;
  let reply: HttpReply;
  // Only `status --check` probes: plain `status` never loads node:http.
  const { httpCall } = await import("../core/http.js");
  try {
    reply = await httpCall({ url: url.href, headers, timeoutMs: PROBE_TIMEOUT_MS, maxBytes: MAX_ANSWER_BYTES, ...(signal ? { signal } : {}) });
  } catch (e) {
    return { result: "failed", detail: `could not reach ${host}: ${failure(e)}` };
  }
  const where = `GET ${host}${url.pathname} answered ${reply.status}`;
  if (reply.status === 401 || reply.status === 403) return { result: "rejected", detail: `rejected: ${where}` };
  if (reply.status < 200 || reply.status > 299) return { result: "failed", detail: where };
  const identity = probe.identity ? identityOf(reply.body, probe.identity, secret) : undefined;
  return { result: "ok", ...(identity ? { identity } : {}), detail: where };
}

/** Probes every stored row that can be read (not `locked` or `unknown`), all at once; other rows come back unchanged. */
export async function checkLogins<R extends { credentialSet: string; provider: string; source: string | null; state: string }>(
  sources: { store: CredentialStore; roster: () => Roster | Promise<Roster> },
  rows: readonly R[],
  signal?: AbortSignal,
): Promise<(R & { check?: ProbeOutcome })[]> {
  const readable = (r: R) => r.source === "store" && r.state !== "locked" && r.state !== "unknown" && r.state !== "missing";
  const roster = rows.some(readable) ? await sources.roster() : undefined;
  return Promise.all(
    rows.map(async (r) => {
      const row = readable(r) ? sources.store.get(r.credentialSet, r.provider) : undefined;
      if (!row) return r;
      return { ...r, check: await probeCredential(row, roster?.has(r.provider) ? roster.get(r.provider) : undefined, signal) };
    }),
  );
}
