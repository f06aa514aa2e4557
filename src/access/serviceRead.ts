import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import type { Clock } from "../core/clock.js";
import type { Env } from "../core/env.js";
import { UntrustedServiceError } from "../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import { storePaths } from "../core/paths.js";
import { subkeyOf } from "../store/crypto.js";
import { readKeyFile } from "../store/keySource.js";
import { ADMIN_KEY_LABEL, adminAuthorization, DAEMON_ID } from "./adminAuth.js";
import { serviceLocation } from "./connect.js";
import { findProjectFile } from "./projectLookup.js";
import { verifyServiceDir, verifyServicePeer, WIRE_LIMITS } from "./wire.js";

/**
 * `token` and `git-credential get` answered by this home's running service, so the command opens
 * neither SQLite nor the roster and loads no schema: the admin signature comes from the key file
 * alone, and the daemon (which has the store open) reads, refreshes and decides as the CLI would.
 * Every "cannot" here is undefined and the caller reads the store itself; the daemon is verified as
 * `connectService` does (private directory, its uid), and an untrusted one is told, never asked.
 */

export const SECRET_PATH = "/v1/secret";
export const GIT_CREDENTIAL_PATH = "/v1/git-credential";

export interface ServiceReadOptions {
  env: Env;
  home: string;
  /** Where the nearest project file would be looked for; undefined: none applies. */
  cwd?: string | undefined;
  clock: Clock;
  /** Told when the socket found is not provably this user's daemon (nothing was sent to it). */
  onUntrusted?: (error: UntrustedServiceError) => void;
}

/** What `/v1/secret` answers: `token --json`'s fields (expiresAt in epoch ms). */
export interface ServedSecret {
  credentialSet: string;
  provider: string;
  kind: string;
  secret: string;
  expiresAt: number | null;
}

/** The variable that names a PostgreSQL store (the store's STORE_URL_VARIABLE; that module would load SQLite's binding here). */
export const STORE_URL = "AUTHCTL_STORE_URL";

/** Which store a process reads, without the URL (it may hold a password): the service answers only for its own. */
export function storeIdentity(env: Env): string {
  return createHash("sha256").update(env[STORE_URL]?.trim() ?? "").digest("hex");
}

/** How long the daemon may take to take the call, and to answer it (a host login's refresh included). */
const CONNECT_MS = 2_000;
const ANSWER_MS = 60_000;

/**
 * The set a command reads when no flag names one, if it is known without reading a project file
 * (which needs the roster and its schema): `AUTHCTL_SET`, else the default when no project file applies.
 */
function setWithoutProjectFile(options: ServiceReadOptions, flag: string | undefined): string | undefined {
  const set = flag ?? (options.env.AUTHCTL_SET || (options.cwd !== undefined && findProjectFile(options.cwd) ? undefined : DEFAULT_SET));
  try {
    return set === undefined ? undefined : assertSetName(set);
  } catch {
    return undefined;
  }
}

/**
 * The admin key from the key file, or undefined where the direct path must decide: a run's grant,
 * a passphrase in the environment (the direct path says which source is wrong), no key file.
 */
function adminKeyFromKeyFile(options: ServiceReadOptions): Buffer | undefined {
  const { env } = options;
  if ((env.AUTHCTL_SOCKET && env.AUTHCTL_TOKEN) || env.AUTHCTL_PASSPHRASE !== undefined || env.AUTHCTL_PASSPHRASE_COMMAND !== undefined) return undefined;
  const keyFile = storePaths(options.home).keyFile;
  if (!existsSync(keyFile)) return undefined;
  try {
    const key = readKeyFile(keyFile);
    const adminKey = subkeyOf(key, ADMIN_KEY_LABEL);
    key.fill(0);
    return adminKey;
  } catch {
    return undefined;
  }
}

/** `token`'s answer from the service: undefined when it cannot give it (the caller reads the store). */
export async function secretFromService(options: ServiceReadOptions, provider: string, flagSet: string | undefined): Promise<ServedSecret | undefined> {
  const credentialSet = setWithoutProjectFile(options, flagSet);
  if (credentialSet === undefined) return undefined;
  const answer = await ask(options, SECRET_PATH, { provider, credentialSet, store: storeIdentity(options.env) });
  if (!isRecord(answer)) return undefined;
  const { kind, secret, expiresAt } = answer;
  const ok = typeof answer.credentialSet === "string" && typeof answer.provider === "string" && typeof kind === "string" && typeof secret === "string" && (expiresAt === null || typeof expiresAt === "number");
  return ok ? (answer as unknown as ServedSecret) : undefined;
}

/** `git-credential get`'s fields from the service (none: git asks its next helper); undefined when it cannot give them. */
export async function gitFieldsFromService(
  options: ServiceReadOptions,
  request: ReadonlyMap<string, string>,
  query: { provider?: string; host?: string; credentialSet?: string },
): Promise<[string, string][] | undefined> {
  const defaultSet = setWithoutProjectFile(options, query.credentialSet);
  if (defaultSet === undefined) return undefined;
  const answer = await ask(options, GIT_CREDENTIAL_PATH, { request: Object.fromEntries(request), ...query, defaultSet, store: storeIdentity(options.env) });
  const fields = isRecord(answer) ? answer.fields : undefined;
  const pairs = Array.isArray(fields) && fields.every((f) => Array.isArray(f) && f.length === 2 && f.every((v) => typeof v === "string"));
  return pairs ? (fields as [string, string][]) : undefined;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** One signed admin call on one verified connection: health (for the daemon run's id), then `path`. */
async function ask(options: ServiceReadOptions, path: string, body: object): Promise<unknown> {
  const adminKey = adminKeyFromKeyFile(options);
  if (!adminKey) return undefined;
  const { socketPath } = serviceLocation({ env: options.env, paths: storePaths(options.home) });
  let socket: Socket | undefined;
  try {
    verifyServiceDir(socketPath);
    if (!existsSync(socketPath)) return undefined;
    socket = await verifiedSocket(socketPath);
    const reader = responses(socket);
    socket.setTimeout(CONNECT_MS);
    socket.write(`GET /v1/health HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\n\r\n`);
    const health = parseJson((await reader.next()).body);
    const daemonId = isRecord(health) ? health.daemonId : undefined;
    // A daemon of another home (AUTHCTL_SOCKET) would refuse the signature anyway: not asked.
    if (!isRecord(health) || typeof daemonId !== "string" || !DAEMON_ID.test(daemonId) || health.home !== options.home) return undefined;
    const text = JSON.stringify(body);
    const authorization = adminAuthorization(adminKey, daemonId, options.clock.now(), path, text);
    socket.setTimeout(ANSWER_MS);
    socket.write(`POST ${path} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nauthorization: ${authorization}\r\nconnection: close\r\n\r\n${text}`);
    const answer = await reader.next();
    return answer.status === 200 ? parseJson(answer.body) : undefined;
  } catch (error) {
    if (error instanceof UntrustedServiceError) options.onUntrusted?.(error);
    return undefined;
  } finally {
    adminKey.fill(0);
    socket?.destroy();
  }
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** A connection to `socketPath` whose listener runs as this user or root (refused otherwise, before anything is sent). */
function verifiedSocket(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      try {
        verifyServicePeer(socket, socketPath);
        resolve(socket);
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    });
  });
}

/**
 * The answers on one HTTP/1.1 connection, in order. The service always sends content-length; an
 * answer without one runs to the end of the connection. node:http is not loaded for this.
 */
function responses(socket: Socket): { next(): Promise<{ status: number; body: string }> } {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length > WIRE_LIMITS.maxBytes) socket.destroy(new Error(`an answer larger than ${WIRE_LIMITS.maxBytes} bytes`));
    notify();
  });
  socket.on("end", () => ((ended = true), notify()));
  socket.on("close", () => ((ended = true), notify()));
  socket.on("error", (error) => ((failure = error), notify()));
  socket.on("timeout", () => socket.destroy(new Error("the service did not answer in time")));
  const more = () => new Promise<void>((resolve) => (wake = resolve));
  return {
    async next() {
      for (;;) {
        if (failure) throw failure;
        const headEnd = buffered.indexOf("\r\n\r\n");
        if (headEnd >= 0) {
          const head = buffered.subarray(0, headEnd).toString("latin1");
          const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
          if (!status) throw new Error("the service's answer has no status line");
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
          const start = headEnd + 4;
          if (length !== undefined && buffered.length >= start + Number(length)) {
            const body = buffered.subarray(start, start + Number(length)).toString("utf8");
            buffered = buffered.subarray(start + Number(length));
            return { status, body };
          }
          if (length === undefined && ended) return { status, body: buffered.subarray(start).toString("utf8") };
        }
        if (ended) throw new Error("the service closed the connection before it answered");
        await more();
      }
    },
  };
}
