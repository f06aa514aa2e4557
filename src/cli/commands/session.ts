import type { Command } from "commander";
import { DEFAULT_SET } from "../../core/names.js";
import { authctlHome } from "../../core/paths.js";
import { type IOStreams, out, printJson } from "../io.js";
import { credentialSetFor } from "./auth.js";

interface PrepareOptions {
  project?: string;
  set?: string;
  image?: string;
  exposeToken?: boolean;
  tty: boolean;
  json?: boolean;
}

async function load() {
  const [session, saved, engine, images, context] = await Promise.all([
    import("../../logins/container/session.js"),
    import("../../logins/container/savedSessions.js"),
    import("../../engine/index.js"),
    import("../../logins/container/images.js"),
    import("../factory.js"),
  ]);
  return { ...session, ...saved, ...engine, ...images, ...context };
}

/** Cleans up sessions nobody captured or cleaned within a day (frontends crash, terminals close). */
async function sweep(io: IOStreams, home: string): Promise<void> {
  const m = await load();
  for (const { id, saved } of m.staleSessions(home)) {
    if (saved) {
      const restored = await m.restoreSession(saved.state, { roster: await m.cliRoster(io) }).catch(() => undefined);
      await restored?.cleanup().catch(() => {});
    }
    m.forgetSession(home, id);
  }
}

export function registerSession(program: Command, io: IOStreams): void {
  const session = program
    .command("session")
    .description("drive a container login from another program: prepare → run argv → capture → cleanup");

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
    .action(async (provider: string, opts: PrepareOptions) => {
      const m = await load();
      const home = authctlHome(io.env);
      await sweep(io, home);
      const roster = await m.cliRoster(io);
      const entry = m.oauthProvider(roster.get(provider));
      const engine = await m.detectEngine(io.env);
      const image = opts.image ?? (await m.ensureAuthImage(engine, entry.oauth.image, (l) => io.stderr.write(l + "\n")));
      using store = m.cliStore(io);
      const prepared = await m.prepareOAuthSession(provider, opts.project ?? null, {
        roster,
        store,
        engine,
        image,
        credentialSet: credentialSetFor(opts),
        exposeToken: opts.exposeToken,
        tty: opts.tty,
      });
      const saved = m.saveSession(home, prepared.toJSON());
      const { argv, banner, title, authDir, containerName } = prepared;
      if (opts.json) printJson(io, { id: saved.id, argv, banner, title, authDir, containerName });
      else {
        out(io, `session ${saved.id}`);
        out(io, banner);
        out(io, `run: ${argv.join(" ")}`);
      }
    });

  session
    .command("capture")
    .description("capture the credential a prepared session's container wrote, and store it")
    .argument("<id>")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const m = await load();
      const home = authctlHome(io.env);
      const saved = m.loadSession(home, id);
      using store = m.cliStore(io);
      await m.unlockForSecrets(store, io);
      const restored = await m.restoreSession(saved.state, { roster: await m.cliRoster(io), store });
      const summary = await restored.capture();
      if (opts.json) printJson(io, { id, ...summary });
      else out(io, `Stored ${summary.credentialSet}:${summary.provider} (oauth ${summary.preview})`);
    });

  session
    .command("cleanup")
    .description("remove a session's container and temp dir (idempotent)")
    .argument("<id>")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }) => {
      const m = await load();
      const home = authctlHome(io.env);
      if (m.sessionExists(home, id) || !/^[a-f0-9]{16}$/.test(id)) {
        let saved: ReturnType<typeof m.loadSession> | undefined;
        try {
          saved = m.loadSession(home, id);
        } catch (err) {
          if (!m.sessionExists(home, id)) throw err; // an invalid id
          io.stderr.write(`authctl: session file ${id}.json is damaged; removed it\n`);
        }
        if (saved) {
          const restored = await m.restoreSession(saved.state, { roster: await m.cliRoster(io) });
          await restored.cleanup();
        }
        m.forgetSession(home, id);
      }
      if (opts.json) printJson(io, { id, cleaned: true });
      else out(io, `Cleaned up session ${id}`);
    });
}
