import { Command } from "commander";
import type { Authctl } from "../../context.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { Factory } from "../factory.js";
import { out, printJson } from "../io.js";
import { credentialSetFor } from "./auth.js";

export interface PrepareOptions {
  project?: string;
  set?: string;
  image?: string;
  exposeToken?: boolean;
  tty: boolean;
  json?: boolean;
}

async function load() {
  const [session, saved, images] = await Promise.all([
    import("../../logins/container/session.js"),
    import("../../logins/container/savedSessions.js"),
    import("../../logins/container/images.js"),
  ]);
  return { ...session, ...saved, ...images };
}

/** Cleans up sessions nobody captured or cleaned within a day (frontends crash, terminals close). */
async function sweep(context: Authctl): Promise<void> {
  const m = await load();
  for (const { id, saved } of m.staleSessions(context)) {
    if (saved) {
      const restored = await m.restoreSession(saved.state, { context }).catch(() => undefined);
      await restored?.cleanup().catch(() => {});
    }
    m.forgetSession(context, id);
  }
}

export async function runSessionPrepare(f: Factory, provider: string, opts: PrepareOptions): Promise<void> {
  const m = await load();
  const context = await f.context();
  await sweep(context);
  const entry = m.oauthProvider(context.roster().get(provider));
  const image = opts.image ?? (await m.ensureAuthImage(await context.engine(), entry.oauth.image, (l) => f.io.stderr.write(l + "\n")));
  const prepared = await m.prepareOAuthSession(provider, opts.project ?? null, {
    context,
    image,
    credentialSet: credentialSetFor(opts),
    exposeToken: opts.exposeToken,
    tty: opts.tty,
    signal: f.signal,
  });
  const saved = m.saveSession(context, prepared.toJSON());
  const { argv, banner, title, authDir, containerName } = prepared;
  if (opts.json) printJson(f.io, { id: saved.id, argv, banner, title, authDir, containerName });
  else {
    out(f.io, `session ${saved.id}`);
    out(f.io, banner);
    out(f.io, `run: ${argv.join(" ")}`);
  }
}

export async function runSessionCapture(f: Factory, id: string, opts: { json?: boolean }): Promise<void> {
  const m = await load();
  const context = await f.context();
  const saved = m.loadSession(context, id);
  await f.unlockedStore();
  const restored = await m.restoreSession(saved.state, { context });
  const summary = await restored.capture();
  if (opts.json) printJson(f.io, { id, ...summary });
  else out(f.io, `Stored ${summary.credentialSet}:${summary.provider} (oauth ${summary.preview})`);
}

export async function runSessionCleanup(f: Factory, id: string, opts: { json?: boolean }): Promise<void> {
  const m = await load();
  const context = await f.context();
  if (m.sessionExists(context, id) || !/^[a-f0-9]{16}$/.test(id)) {
    let saved: ReturnType<typeof m.loadSession> | undefined;
    try {
      saved = m.loadSession(context, id);
    } catch (err) {
      if (!m.sessionExists(context, id)) throw err; // an invalid id
      f.io.stderr.write(`authctl: session file ${id}.json is damaged; removed it\n`);
    }
    if (saved) {
      const restored = await m.restoreSession(saved.state, { context });
      await restored.cleanup();
    }
    m.forgetSession(context, id);
  }
  if (opts.json) printJson(f.io, { id, cleaned: true });
  else out(f.io, `Cleaned up session ${id}`);
}

export function sessionCommand(f: Factory): Command {
  const session = new Command("session").description(
    "drive a container login from another program: prepare → run argv → capture → cleanup",
  );
  session
    .command("prepare")
    .description("prepare a login and print {id, argv, banner, title, authDir, containerName}")
    .argument("<provider>")
    .option("--project <project>", "project the login is for (also the credential set unless --set)")
    .option("--set <set>", `credential set (default: the project, else '${DEFAULT_SET}')`)
    .option("--image <tag>", "image to run (default: build images/auth on demand)")
    .option("--expose-token", "write real vendor files into the shared mount after capture")
    .option("--no-tty", "leave out -t (when the frontend pipes the argv instead of giving it a terminal)")
    .option("--json", "print JSON")
    .action((provider: string, opts: PrepareOptions) => runSessionPrepare(f, provider, opts));
  session
    .command("capture")
    .description("capture the credential a prepared session's container wrote, and store it")
    .argument("<id>")
    .option("--json", "print JSON")
    .action((id: string, opts: { json?: boolean }) => runSessionCapture(f, id, opts));
  session
    .command("cleanup")
    .description("remove a session's container and temp dir (idempotent)")
    .argument("<id>")
    .option("--json", "print JSON")
    .action((id: string, opts: { json?: boolean }) => runSessionCleanup(f, id, opts));
  return session;
}
