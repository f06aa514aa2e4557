import { Command } from "commander";
import type { Authctl } from "../../context.js";
import { assertImageReference } from "../../core/imageRef.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { Factory } from "../factory.js";
import { out, printJson } from "../io.js";
import { credentialSetFor, scopeList } from "./auth.js";

export interface PrepareOptions {
  project?: string;
  set?: string;
  image?: string;
  exposeToken?: boolean;
  tty: boolean;
  json?: boolean;
  clientId?: string;
  clientSecretStdin?: boolean;
  tenantId?: string;
  scopes?: string;
}

export interface CaptureOptions {
  json?: boolean;
  clientSecretStdin?: boolean;
  redirectUrlStdin?: boolean;
}

/**
 * A session's id is `sessionId` in every JSON authctl prints (proxy and agent sessions too); `id`
 * stays beside it because login frontends read it (documented `session prepare --json` output).
 */
const sessionIdJson = (id: string) => ({ sessionId: id, id });

async function load() {
  const [session, saved, images, sweep] = await Promise.all([
    import("../../logins/container/session.js"),
    import("../../logins/container/savedSessions.js"),
    import("../../logins/container/images.js"),
    import("../../logins/container/sweep.js"),
  ]);
  return { ...session, ...saved, ...images, ...sweep };
}

/**
 * A host login (device code, PKCE) for a frontend: the code and URL (or the auth URL) are printed
 * and the login kept on disk; `session capture <id>` polls or takes the redirect, in any process.
 */
async function prepareHost(f: Factory, context: Authctl, provider: string, opts: PrepareOptions): Promise<void> {
  const [{ startOAuth2Login }, saved] = await Promise.all([import("../../logins/oauth2/login.js"), import("../../logins/hostSessions.js")]);
  saved.sweepHostSessions(context);
  const clientSecret = opts.clientSecretStdin ? (await (await import("../../ui/prompt.js")).readAllStdin(f.io)).trim() : undefined;
  const { state, loopback } = await startOAuth2Login(provider, {
    context,
    credentialSet: credentialSetFor(opts),
    clientId: opts.clientId,
    clientSecret,
    tenantId: opts.tenantId,
    scopes: scopeList(opts.scopes),
    signal: f.signal,
  });
  // The listener comes back on the same port when `session capture` runs.
  await loopback?.close();
  const id = saved.saveHostSession(context, state);
  const { method, title, prompt } = state;
  if (opts.json) printJson(f.io, { ...sessionIdJson(id), method, title, ...prompt });
  else {
    const { promptText } = await import("../../logins/hostLogin.js");
    out(f.io, `session ${id}`);
    out(f.io, promptText(prompt));
  }
}

async function captureHost(f: Factory, context: Authctl, id: string, opts: CaptureOptions): Promise<void> {
  const [{ restoreOAuth2Login }, saved] = await Promise.all([import("../../logins/oauth2/login.js"), import("../../logins/hostSessions.js")]);
  const state = saved.loadHostSession(context, id);
  await f.unlockedStore();
  const { readAllStdin } = await import("../../ui/prompt.js");
  // stdin carries the client secret, or the redirect URL pasted from a browser elsewhere (not both).
  const clientSecret = opts.clientSecretStdin ? (await readAllStdin(f.io)).trim() : undefined;
  const pastedRedirectUrl = opts.redirectUrlStdin ? readAllStdin(f.io) : undefined;
  await using session = restoreOAuth2Login(state, { context, clientSecret });
  const summary = await session.capture({ signal: f.signal, pastedRedirectUrl });
  saved.forgetHostSession(context, id);
  if (opts.json) printJson(f.io, { ...sessionIdJson(id), ...summary });
  else out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (${summary.kind} ${summary.preview})`);
}

export async function runSessionPrepare(f: Factory, provider: string, opts: PrepareOptions): Promise<void> {
  if (opts.image !== undefined) assertImageReference(opts.image, "--image");
  const m = await load();
  const context = await f.context();
  await m.sweepStaleLogins(context);
  if (context.roster().get(provider).host_flow) return prepareHost(f, context, provider, opts);
  const entry = m.oauthProvider(context.roster().get(provider));
  const image = opts.image ?? (await m.defaultAuthImage(await context.engine(), context.home, entry.oauth.image, (l) => f.io.stderr.write(l + "\n")));
  const prepared = await m.prepareOAuthSession(provider, {
    projectId: opts.project ?? null,
    context,
    image,
    credentialSet: credentialSetFor(opts),
    exposeToken: opts.exposeToken,
    tty: opts.tty,
    signal: f.signal,
  });
  const saved = m.saveSession(context, prepared.toJSON());
  const { argv, banner, title, authDir, containerName } = prepared;
  if (opts.json) printJson(f.io, { ...sessionIdJson(saved.id), argv, banner, title, authDir, containerName });
  else {
    out(f.io, `session ${saved.id}`);
    out(f.io, banner);
    out(f.io, `run: ${argv.join(" ")}`);
  }
}

export async function runSessionCapture(f: Factory, id: string, opts: CaptureOptions): Promise<void> {
  const m = await load();
  const context = await f.context();
  if ((await import("../../logins/hostSessions.js")).hostSessionExists(context, id)) return captureHost(f, context, id, opts);
  const saved = m.loadSession(context, id);
  await f.unlockedStore();
  const restored = await m.restoreSession(saved.state, { context });
  const summary = await restored.capture();
  if (opts.json) printJson(f.io, { ...sessionIdJson(id), ...summary });
  else out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (oauth ${summary.preview})`);
}

export async function runSessionCleanup(f: Factory, id: string, opts: { json?: boolean }): Promise<void> {
  const m = await load();
  const context = await f.context();
  const host = await import("../../logins/hostSessions.js");
  if (host.hostSessionExists(context, id)) host.forgetHostSession(context, id);
  if (m.sessionExists(context, id) || !/^[a-f0-9]{16}$/.test(id)) {
    let saved: ReturnType<typeof m.loadSession> | undefined;
    try {
      saved = m.loadSession(context, id);
    } catch (err) {
      if (!m.sessionExists(context, id)) throw err; // an invalid id
      f.io.stderr.write(`authctl: session file ${id}.json is damaged; removed it\n`);
    }
    if (saved) {
      // From the saved state alone: cleanup must work while the roster is broken.
      const left = await m.discardSession(saved.state, await context.engine(), context);
      if (left) f.io.stderr.write(`authctl: session ${id}: left ${saved.state.authDir}: ${left}\n`);
    }
    m.forgetSession(context, id);
  }
  if (opts.json) printJson(f.io, { ...sessionIdJson(id), cleaned: true });
  else out(f.io, `Cleaned up session ${id}`);
}

export function sessionCommand(f: Factory): Command {
  const session = new Command("session").description(
    "drive a container login from another program: prepare → run argv → capture → cleanup",
  );
  session
    .command("prepare")
    .description("prepare a login; print {sessionId, argv, banner, title, authDir, containerName}, or for a host login {sessionId, method, title, kind, userCode, verificationUri | authUrl, …}")
    .argument("<provider>")
    .option("--project <project>", "project the login is for (also the credential set unless --set)")
    .option("--set <set>", `credential set (default: the project, else '${DEFAULT_SET}')`)
    .option("--image <tag>", "image to run (default: build images/auth on demand)")
    .option("--expose-token", "write real vendor files into the shared mount after capture")
    .option("--no-tty", "leave out -t (when the frontend pipes the argv instead of giving it a terminal)")
    .option("--client-id <id>", "host logins: the OAuth client to log in with")
    .option("--client-secret-stdin", "host logins: read the client secret from stdin")
    .option("--tenant-id <tenant>", "Microsoft logins: the tenant")
    .option("--scopes <scopes>", "host logins: scopes, space- or comma-separated")
    .option("--json", "print JSON")
    .action((provider: string, opts: PrepareOptions) => runSessionPrepare(f, provider, opts));
  session
    .command("capture")
    .description("capture the credential a prepared session's container wrote (or wait for a host login's approval), and store it")
    .argument("<id>")
    .option("--client-secret-stdin", "host logins: read the client secret from stdin")
    .option("--redirect-url-stdin", "PKCE host logins: read the redirect URL pasted from the browser from stdin")
    .option("--json", "print JSON")
    .action((id: string, opts: CaptureOptions) => runSessionCapture(f, id, opts));
  session
    .command("cleanup")
    .description("remove a session's container and temp dir (idempotent)")
    .argument("<id>")
    .option("--json", "print JSON")
    .action((id: string, opts: { json?: boolean }) => runSessionCleanup(f, id, opts));
  return session;
}
