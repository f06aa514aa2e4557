import type { ServiceClient } from "../access/client.js";
import { contextFrom, type WithContext } from "../context.js";
import { isReference, resolveEnvReferences } from "../access/references.js";
import { credentialReader } from "../access/storedCredential.js";
import type { Authctl } from "../context.js";
import { runChild } from "./child.js";
import { readEnvFile } from "./envFile.js";
import { refreshDueLogins, resolveGrants, type Grant, type Grants } from "./grants.js";
import { assertRunnable } from "./which.js";

export const DEFAULT_TOKEN_TTL_SECONDS = 12 * 3600;

export interface RunWithCredentialsOptions extends WithContext {
  credentialSet?: string;
  only?: readonly string[];
  /** provider → one more variable its secret is exported under (a project file's `env`). */
  extraEnvNames?: Readonly<Record<string, string>>;
  /** A `.env` file whose variables the child gets too; `authctl://` references in it (and in the environment) are resolved. */
  envFile?: string;
  /** Conceal secrets in piped output (default true). */
  mask?: boolean;
  signal?: AbortSignal;
  /**
   * Reaches the local service with admin rights (called once every credential has resolved), to
   * mint the child a read-only token scoped to exactly what it was granted; revoked when the
   * child exits. None, or it returns undefined: the child gets no token.
   */
  service?: () => Promise<{ client: ServiceClient; socketPath: string; ttlSeconds?: number } | undefined>;
  /** Told which credentials were granted and skipped, before the child starts. */
  onGrants?: (grants: Grants) => void;
}

/**
 * `authctl run`: resolves every credential first (a missing one fails before anything starts,
 * a host login's expiring access token is refreshed), then runs `argv` with the secrets in its environment and returns its exit code.
 */
export async function runWithCredentials(argv: readonly string[], options: RunWithCredentialsOptions = {}): Promise<number> {
  const context = contextFrom(options);
  const which = { ...(options.credentialSet ? { credentialSet: options.credentialSet } : {}), ...(options.only ? { only: options.only } : {}) };
  await refreshDueLogins(context, { ...which, ...(options.signal ? { signal: options.signal } : {}) });
  const read = await credentialReader(context);
  const resolved = resolveGrants(context, { ...which, read, ...(options.extraEnvNames ? { extraEnvNames: options.extraEnvNames } : {}) });
  options.onGrants?.(resolved);
  const { fileEnv, referenced } = await referencedGrants(context, options.envFile);
  assertRunnable(argv[0], context.env);
  const providers = resolved.grants.map((g) => g.provider);
  const service = providers.length > 0 ? await options.service?.() : undefined;
  const minted =
    service
      ? await service.client.mint({
          credentialSet: resolved.credentialSet,
          providers,
          ops: ["list", "head", "get"],
          ttlSeconds: service.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
        })
      : undefined;
  try {
    return await runChild({
      context,
      argv,
      grants: [...resolved.grants, ...referenced],
      ...(options.mask !== undefined ? { mask: options.mask } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      extraEnv: { ...fileEnv, ...(minted && service ? { AUTHCTL_SOCKET: service.socketPath, AUTHCTL_TOKEN: minted.token } : {}) },
    });
  } finally {
    // A daemon that went away mid-run took the token with it; the child's exit code still counts.
    if (minted) await service!.client.revoke(minted.id).catch(() => {});
  }
}

/**
 * Variables of the environment and the env file whose value is an `authctl://` reference become
 * grants (set for the child, masked in its output like the set's); the file's other variables are
 * passed as they are. Every reference resolves before the child starts, or none is used.
 */
async function referencedGrants(context: Authctl, envFile: string | undefined): Promise<{ fileEnv: Record<string, string>; referenced: Grant[] }> {
  const fromFile = envFile === undefined ? {} : readEnvFile(envFile);
  const refs = await resolveEnvReferences(context, { ...context.env, ...fromFile });
  const referenced = [...refs].map(([name, r]): Grant => ({ provider: r.provider, kind: r.kind, envNames: [name], secret: r.secret }));
  const fileEnv = Object.fromEntries(Object.entries(fromFile).filter(([, value]) => !isReference(value)));
  return { fileEnv, referenced };
}
