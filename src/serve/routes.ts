import * as P from "../access/protocol.js";
import { readCredentialAsync } from "../access/credentials.js";
import { assertDeliverable } from "../access/delivery.js";
import { MissingCredentialsError } from "../core/errors.js";
import { credentialType, parsePayload, recordCredential } from "../credentials/index.js";
import { removeCredential } from "../access/removeCredential.js";
import { fixCommandIn } from "../roster/fixCommand.js";
import type { CredentialInfo } from "../store/store.js";
import { HttpFailure, type Caller } from "./failure.js";
import type { ServiceServer, ServiceServerOptions } from "./server.js";

const wireInfo = (info: CredentialInfo): P.CredentialInfoWire => ({
  credentialSet: info.credentialSet,
  provider: info.provider,
  kind: info.kind,
  preview: info.preview,
  expiresAt: info.expiresAt ? info.expiresAt.getTime() : null,
  createdAt: info.createdAt.getTime(),
  updatedAt: info.updatedAt.getTime(),
});

/** 403 unless the caller is admin or holds a token for `op` on this set (and provider). */
function authorize(caller: Caller, op: P.TokenOp | "admin", credentialSet?: string, provider?: string): void {
  if (caller.kind === "admin") return;
  if (caller.kind === "anonymous") throw new HttpFailure(401, "unauthorized", "this operation needs a capability token (AUTHCTL_TOKEN) or the store key");
  if (op === "admin") throw new HttpFailure(403, "forbidden", "this operation needs the store key, not a token");
  const { token } = caller;
  if (!token.ops.has(op)) throw new HttpFailure(403, "forbidden", `token ${token.id} does not grant ${op}`);
  if (credentialSet !== undefined && credentialSet !== token.credentialSet) throw new HttpFailure(403, "forbidden", `token ${token.id} does not grant set ${credentialSet}`);
  if (provider !== undefined && !token.providers.has(provider)) throw new HttpFailure(403, "forbidden", `token ${token.id} does not grant ${credentialSet}:${provider}`);
}

/** The service's own routes: health, the credential operations and token minting/revoking. */
export function mountCredentialRoutes(service: ServiceServer, options: ServiceServerOptions): void {
  const { context } = options;
  const { tokens } = service;
  const missing = (credentialSet: string, provider: string) => {
    const fix = fixCommandIn(context.roster(), provider, credentialSet);
    return new HttpFailure(404, "not_found", `no credentials for ${credentialSet}:${provider}; run: ${fix}`, fix);
  };

  service.route("/v1/health", {
    handle: () => {
      const proxy = options.proxyAddress?.();
      return { ok: true, protocol: P.PROTOCOL_VERSION, pid: process.pid, home: context.home, daemonId: service.daemonId, ...(proxy ? { proxy } : {}) };
    },
  });

  service.route("/v1/list", {
    schema: P.ListRequest,
    handle: ({ body, caller, setTarget }) => {
      const credentialSet = body.credentialSet ?? (caller.kind === "token" ? caller.token.credentialSet : undefined);
      setTarget(`${credentialSet ?? "*"}:*`);
      authorize(caller, "list", credentialSet);
      const visible = caller.kind === "token" ? caller.token.providers : undefined;
      const rows = context.store().list(credentialSet ? { credentialSet } : {});
      return { credentials: rows.filter((r) => !visible || visible.has(r.provider)).map(wireInfo) };
    },
  });

  service.route("/v1/head", {
    schema: P.RefRequest,
    handle: ({ body: { credentialSet, provider }, caller, setTarget }) => {
      setTarget(`${credentialSet}:${provider}`);
      authorize(caller, "head", credentialSet, provider);
      const info = context.store().info(credentialSet, provider);
      if (!info) throw missing(credentialSet, provider);
      return { credential: wireInfo(info) };
    },
  });

  service.route("/v1/get", {
    schema: P.RefRequest,
    handle: async ({ body: { credentialSet, provider }, caller, setTarget }) => {
      setTarget(`${credentialSet}:${provider}`);
      authorize(caller, "get", credentialSet, provider);
      // A secret command may take seconds (a 1Password prompt): the daemon, proxy included, keeps answering others.
      const found = await readCredentialAsync(context, credentialSet, provider);
      if (!found) throw missing(credentialSet, provider);
      if (context.roster().has(provider)) assertDeliverable(context.roster().get(provider), found);
      return { credential: { ...wireInfo(found), payload: found.payload } };
    },
  });

  service.route("/v1/put", {
    schema: P.PutRequest,
    handle: ({ body, caller, setTarget }) => {
      setTarget(`${body.credentialSet}:${body.provider}`);
      authorize(caller, "admin");
      const expiresAt = body.expiresAt === null ? null : new Date(body.expiresAt);
      // Only payloads of a known type (an older shape upgraded), of its shape, under the kind that type is stored as.
      const payload = parsePayload(`${body.credentialSet}:${body.provider}`, body.kind, body.payload);
      const kind = credentialType(payload).kind(payload);
      if (kind !== body.kind) throw new HttpFailure(400, "bad_request", `${body.credentialSet}:${body.provider}: an ${payload.type} payload is stored as kind ${kind}, not ${body.kind}`);
      recordCredential(context, { credentialSet: body.credentialSet, provider: body.provider, payload, preview: body.preview, expiresAt });
      return { ok: true };
    },
  });

  service.route("/v1/delete", {
    schema: P.RefRequest,
    handle: async ({ body: { credentialSet, provider }, caller, setTarget }) => {
      setTarget(`${credentialSet}:${provider}`);
      authorize(caller, "admin");
      try {
        await removeCredential(provider, { credentialSet, context });
      } catch (err) {
        if (err instanceof MissingCredentialsError) throw missing(credentialSet, provider);
        throw err;
      }
      return { ok: true };
    },
  });

  service.route("/v1/tokens/mint", {
    schema: P.MintRequest,
    handle: ({ body: { scope }, caller, setTarget }) => {
      setTarget(`${scope.credentialSet}:${scope.providers.join(",")}`);
      if (caller.kind === "anonymous") authorize(caller, "mint");
      const parent = caller.kind === "token" ? caller.token : undefined;
      const widening = parent && tokens.widening(parent, scope);
      if (widening) throw new HttpFailure(403, "forbidden", widening);
      const minted = tokens.mint(scope, parent);
      setTarget(`${scope.credentialSet}:${scope.providers.join(",")} → token:${minted.id} [${scope.ops.join(",")}]`);
      return minted;
    },
  });

  service.route("/v1/tokens/revoke", {
    schema: P.RevokeRequest,
    handle: ({ body: { id }, caller, setTarget }) => {
      setTarget(`token:${id}`);
      if (caller.kind === "anonymous") authorize(caller, "admin");
      if (caller.kind === "token" && !tokens.descendsFrom(id, caller.token.id)) {
        throw new HttpFailure(403, "forbidden", `token ${caller.token.id} may revoke only itself and the tokens it minted`);
      }
      tokens.revoke(id);
      return { ok: true };
    },
  });

  service.route("/v1/shutdown", {
    schema: P.EmptyRequest,
    handle: ({ caller }) => {
      authorize(caller, "admin");
      setImmediate(() => options.onShutdown?.());
      return { ok: true };
    },
  });
}
