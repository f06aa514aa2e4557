import { Command, InvalidArgumentError } from "commander";
import type { Factory } from "../factory.js";
import { err, out, printJson, timeText } from "../io.js";
import { addPolicyFlags, policyFromFlags, type PolicyFlags } from "./proxy.js";

export interface ContainerArgsOptions extends PolicyFlags {
  project?: string;
  set?: string;
  socket?: string;
  session?: string;
  port?: number;
  json?: boolean;
}

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError("must be a port number 1-65535");
  return n;
};

/** Safe to paste into a POSIX shell: plain words stay as they are, anything else is single-quoted. */
const shellWord = (word: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/**
 * Prints the engine run flags that give an agent container a login through the credential proxy
 * (phantoms only), and the session id that `authctl proxy revoke` ends.
 */
export async function runContainerArgs(f: Factory, provider: string, opts: ContainerArgsOptions): Promise<void> {
  const context = await f.context();
  await f.unlockedStore();
  const { prepareAgentContainer } = await import("../../proxy/agentContainer.js");
  const { startDetachedService, ON_DEMAND_IDLE_EXIT_MS } = await import("./serve.js");
  const policy = await policyFromFlags(opts);
  const agent = await prepareAgentContainer(provider, {
    context,
    ...(policy ? { policy } : {}),
    project: opts.project,
    // A project name picks the set itself; otherwise the flag, AUTHCTL_SET or the project file does.
    credentialSet: opts.set === undefined && opts.project !== undefined ? undefined : (await import("../../access/credentialSet.js")).resolveCredentialSet(context, opts.set).credentialSet,
    socketPath: opts.socket,
    sessionId: opts.session,
    port: opts.port,
    startService: () => startDetachedService(f, ON_DEMAND_IDLE_EXIT_MS),
  });
  if (opts.json) {
    printJson(f.io, { ...agent, expiresAt: agent.expiresAt.toISOString() });
    return;
  }
  out(f.io, agent.runArgs.map(shellWord).join(" "));
  err(f.io, `session ${agent.sessionId} (${agent.provider}, set ${agent.credentialSet}, ${agent.mode}; phantoms expire ${timeText(agent.expiresAt, context.clock.now())})`);
  err(f.io, `start the container's command with: ${agent.command.join(" ")} <command…>   end it with: authctl proxy revoke ${agent.sessionId}`);
}

export function containerArgsCommand(f: Factory): Command {
  const command = new Command("container-args")
    .description("engine run flags for an agent container that uses a login through the credential proxy of `authctl serve` (phantom tokens only; started on demand)")
    .argument("<provider>", "provider name, see `authctl providers`")
    .option("--project <project>", "project the agent works on (also the credential set unless --set is given)")
    .option("--set <set>", "credential set (default: the --project, else $AUTHCTL_SET, else the nearest authctl.yaml's, else 'default')")
    .option("--socket <path>", "the proxy's Unix socket, which must be this home's running daemon's (default: that one; the daemon is started if none runs)")
    .option("--session <id>", "session id for the phantoms (default: agent-<set>-<random>)")
    .option("--port <n>", "port of the forwarder inside the container (default 8787)", port)
    .option("--json", "print everything as JSON: runArgs, command, mounts, env, sessionId, expiresAt");
  return addPolicyFlags(command).action(async (provider: string, opts: ContainerArgsOptions) => runContainerArgs(f, provider, opts));
}
