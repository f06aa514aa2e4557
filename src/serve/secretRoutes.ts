import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { serviceGrant } from "../access/credentials.js";
import { freshCredential } from "../access/fresh.js";
import { SetName } from "../access/protocol.js";
import { secretFor } from "../access/secret.js";
import { GIT_CREDENTIAL_PATH, SECRET_PATH, storeIdentity } from "../access/serviceRead.js";
import type { Authctl } from "../context.js";
import { lazy } from "../core/lazy.js";
import { gitCredentialFields } from "../helpers/gitAnswer.js";
import { HttpFailure, type Caller } from "./failure.js";
import type { ServiceServer, ServiceServerOptions } from "./server.js";

const StoreDigest = lazy(() => z.string().regex(/^[a-f0-9]{64}$/));
const SecretRequest = lazy(() => z.strictObject({ provider: z.string().max(256), credentialSet: SetName, store: StoreDigest }));
const GitCredentialRequest = lazy(() => z.strictObject({
  request: z.record(z.string().max(256), z.string().max(16 * 1024)).refine((r) => Object.keys(r).length <= 64, "at most 64 attributes"),
  provider: z.string().max(256).optional(),
  host: z.string().max(256).optional(),
  credentialSet: SetName.optional(),
  defaultSet: SetName,
  store: StoreDigest,
}));

/** Roster files changed this long before the daemon started count as changed after it: mtimes are coarse. */
const ROSTER_MARGIN_MS = 1_000;

/** Whether the user's roster directory (or a file in it) changed since `since`: the daemon's roster would be stale. */
function rosterChangedSince(dir: string, since: number): boolean {
  const changed = (path: string) => {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    return stat !== undefined && Math.max(stat.ctimeMs, stat.mtimeMs) >= since - ROSTER_MARGIN_MS;
  };
  try {
    return changed(dir) || readdirSync(dir).some((name) => changed(join(dir, name)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/**
 * The CLI's `token` and `git-credential get`, answered here for a client that proved it holds the
 * store key (admin): the same reads, refreshes and refusals, with the daemon's open store. Refused
 * (the client reads the store itself) where the answer could differ from the client's own: another
 * store, a roster edited since this daemon started, a secret command (it runs in the caller's
 * environment, and would hold the daemon's event loop here), a daemon started inside a run.
 */
export function mountSecretRoutes(service: ServiceServer, options: ServiceServerOptions): void {
  const { context } = options;
  const startedAt = context.clock.now();
  const decline = (why: string) => new HttpFailure(409, "refused", `${why}: the client reads the store itself`);
  const admitted = (caller: Caller, store: string) => {
    if (caller.kind !== "admin") throw new HttpFailure(403, "forbidden", "this operation needs the store key, not a token");
    if (store !== storeIdentity(context.env)) throw decline("the client reads another store than this service");
    if (serviceGrant(context)) throw decline("this service reads its credentials from another service");
    if (rosterChangedSince(context.paths.userRoster, startedAt)) throw decline(`the roster in ${context.paths.userRoster} changed since this service started (restart it)`);
  };
  const ready = async (credentialSet: string, provider: string) => {
    declineCommandSource(context, credentialSet, provider, decline);
    await freshCredential(context, credentialSet, provider);
  };

  service.route(SECRET_PATH, {
    schema: SecretRequest,
    handle: async ({ body: { provider, credentialSet, store }, caller, setTarget }) => {
      setTarget(`${credentialSet}:${provider}`);
      admitted(caller, store);
      const name = context.roster().get(provider).name;
      await ready(credentialSet, name);
      const found = secretFor(context, name, { credentialSet });
      return { credentialSet: found.credentialSet, provider: found.provider, kind: found.kind, secret: found.secret, expiresAt: found.expiresAt?.getTime() ?? null };
    },
  });

  service.route(GIT_CREDENTIAL_PATH, {
    schema: GitCredentialRequest,
    handle: async ({ body, caller, setTarget }) => {
      const request = new Map(Object.entries(body.request));
      setTarget(`git:${request.get("protocol") ?? "?"}://${request.get("host") ?? "?"}`);
      admitted(caller, body.store);
      const { provider, host, credentialSet, defaultSet } = body;
      const fields = await gitCredentialFields(
        context,
        request,
        { ...(provider ? { provider } : {}), ...(host ? { host } : {}), ...(credentialSet ? { credentialSet } : {}), defaultSet },
        {
          unlock: async () => undefined,
          beforeRead: async (p, set) => {
            setTarget(`${set}:${p.name}`);
            await ready(set, p.name);
          },
        },
      );
      return { fields };
    },
  });
}

/** A stored secret command, or the roster's source where nothing else is stored, is run by the client, not here. */
function declineCommandSource(context: Authctl, credentialSet: string, provider: string, decline: (why: string) => Error): void {
  const row = context.store().info(credentialSet, provider);
  const source = context.roster().has(provider) ? context.roster().get(provider).source : undefined;
  if (row ? row.kind === "command" : source !== undefined) throw decline(`${credentialSet}:${provider} is read by a secret command`);
}
