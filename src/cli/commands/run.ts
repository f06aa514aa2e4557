import { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { err, warnSkippedRoster } from "../io.js";

export interface RunOpts {
  set?: string;
  project?: string;
  only?: string;
  mask?: boolean;
  token?: boolean;
  tokenTtl?: string;
  envFile?: string;
}

/**
 * `authctl run -- cmd …`: the command gets the set's secrets in its environment (and a token for
 * the local service, started on demand), and its exit code becomes authctl's.
 */
export async function runRun(f: Factory, argv: string[], opts: RunOpts): Promise<void> {
  if (argv.length === 0) throw new UsageError("run needs a command: authctl run [--set S] -- <command> [args…]");
  const only = opts.only?.split(",").map((p) => p.trim()).filter(Boolean);
  if (only && only.length === 0) throw new UsageError("--only takes a comma-separated list of providers");
  const ttlSeconds = opts.tokenTtl === undefined ? undefined : Number(opts.tokenTtl);
  if (ttlSeconds !== undefined && !(Number.isInteger(ttlSeconds) && ttlSeconds > 0)) throw new UsageError(`--token-ttl takes a whole number of seconds, got ${JSON.stringify(opts.tokenTtl)}`);
  const context = await f.context();
  warnSkippedRoster(f.io, context.roster());
  const { serviceGrant } = await import("../../access/storedCredential.js");
  // Inside another `run` the parent's token is the way in; a nested run holds no store key to mint with.
  const nested = serviceGrant(context) !== undefined;
  if (!nested) await f.unlockedStore();
  const { runWithCredentials } = await import("../../run/run.js");
  const { resolveCredentialSet } = await import("../../access/credentialSet.js");
  // `--project P` names the set `auth --project P` logged in to.
  const chosen = resolveCredentialSet(context, opts.set ?? opts.project);
  f.exitCode = await runWithCredentials(argv, {
    context,
    signal: f.signal,
    credentialSet: chosen.credentialSet,
    ...(chosen.project && Object.keys(chosen.project.env).length > 0 ? { extraEnvNames: chosen.project.env } : {}),
    ...(only ? { only } : {}),
    ...(opts.envFile !== undefined ? { envFile: opts.envFile } : {}),
    mask: opts.mask !== false,
    onGrants: ({ credentialSet, grants, skipped }) => {
      for (const s of skipped) err(f.io, `authctl: not exporting ${credentialSet}:${s.provider}: ${s.reason}`);
      if (grants.length === 0) err(f.io, `authctl: no credentials to export from set "${credentialSet}"`);
    },
    ...(opts.token === false || nested ? {} : { service: () => serviceForRun(f, ttlSeconds) }),
  });
}

/** An admin client of this home's service, started on demand; undefined (with a note) if it cannot be. */
async function serviceForRun(f: Factory, ttlSeconds: number | undefined) {
  const context = await f.context();
  const { ServiceClient } = await import("../../access/client.js");
  const { ADMIN_KEY_LABEL } = await import("../../access/adminAuth.js");
  const { connectService } = await import("../../serve/daemon.js");
  const adminKey = f.store().subkey(ADMIN_KEY_LABEL);
  try {
    let socketPath = (await connectService(context))?.socketPath;
    if (!socketPath) {
      // A daemon started now could not unlock a store whose passphrase was typed here: `unlock` hands it one.
      if (f.store().keySource === "tty passphrase") {
        err(f.io, "authctl: running without AUTHCTL_TOKEN: no service holds this store's key (`authctl unlock` starts one that does)");
        return undefined;
      }
      const { startDetachedService, ON_DEMAND_IDLE_EXIT_MS } = await import("./serve.js");
      socketPath = await startDetachedService(f, ON_DEMAND_IDLE_EXIT_MS);
    }
    return { client: new ServiceClient({ socketPath, adminKey }), socketPath, ...(ttlSeconds ? { ttlSeconds } : {}) };
  } catch (error) {
    err(f.io, `authctl: running without AUTHCTL_TOKEN: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/**
 * `run ls -la` parses `-la` as run's own option: say where `--` goes. Only the program is echoed
 * back, since its arguments may hold a secret.
 */
function hintDoubleDash(cmd: Command): Command {
  const hinted = cmd as unknown as { unknownOption(flag: string): void };
  hinted.unknownOption = function (this: Command, flag: string) {
    const program = this.args.find((a) => !a.startsWith("-"));
    const example = `authctl run [options] -- ${program && /^[\w./@+:-]+$/.test(program) ? program : "<command>"} [args…]`;
    this.error(`error: unknown option '${flag}': options after the command belong to it; put \`--\` before the command: ${example}`, { code: "commander.unknownOption", exitCode: 2 });
  };
  return cmd;
}

export function runCommand(f: Factory): Command {
  const command = hintDoubleDash(new Command("run"))
    .description("run a command with the set's credentials in its environment (nothing written to disk)")
    .usage("[options] -- <command> [args…]")
    .option("--set <name>", "credential set (default: $AUTHCTL_SET, else the nearest authctl.yaml's, else 'default')")
    .option("--project <project>", "the project's credential set, as `auth --project` logs in to it (unless --set is given)")
    .option("--only <providers>", "only these providers (comma-separated); each must be stored")
    .option("--env-file <file>", "NAME=value lines the command gets too; authctl://<set>/<provider>[/<field>] values (here or in the environment) are resolved")
    .option("--no-mask", "do not conceal the secrets in the command's piped output")
    .option("--no-token", "do not hand the command a token for the local service (AUTHCTL_TOKEN)")
    .option("--token-ttl <seconds>", "lifetime of the command's token (revoked at exit anyway)")
    .argument("<command...>", "the command and its arguments")
    .action((argv: string[], opts: RunOpts) => runRun(f, argv, opts));
  return withExamples(command, f.io, [
    ["a command with the default set's credentials in its environment", "authctl run -- npm test"],
    ["only some providers, from the ci set", "authctl run --set ci --only anthropic,gh -- ./deploy.sh"],
  ]);
}
