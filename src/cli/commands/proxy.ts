import { Command, InvalidArgumentError } from "commander";
import type { Authctl } from "../../context.js";
import { AuthctlError, ServiceError } from "../../core/errors.js";
import type { SessionPolicy, SessionPolicyFlags } from "../../proxy/policy.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { err, out, printJson, stateColor, table, timeText } from "../io.js";
import { portNumber, runServe } from "./serve.js";

export interface ProxyServeOptions {
  port?: number;
  socket?: string;
  /** commander's `--no-tls`: true unless given. */
  tls?: boolean;
  json?: boolean;
}

/** What the session-policy flags give, as commander collects them: the policy module's own shape. */
export type PolicyFlags = SessionPolicyFlags;

const collect = (value: string, previous: string[] = []) => [...previous, value];
const count = (value: string): number => {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number of at least 1");
  return n;
};

/** The flags that narrow a session below the roster's proxy route (docs/proxy-policy.md), for proxy client and container-args. */
export function addPolicyFlags(command: Command): Command {
  return command
    .option("--allow <rule>", "only requests matching this 'METHOD /path' rule (repeatable; e.g. 'GET /repos/**')", collect)
    .option("--deny <rule>", "refuse requests matching this 'METHOD /path' rule (repeatable)", collect)
    .option("--methods <list>", "only these methods, e.g. GET,HEAD")
    .option("--grant <endpoint>", "let the session reach a denied-by-default endpoint of the provider (repeatable; names in docs/proxy-policy.md)", collect)
    .option("--max-requests <n>", "refuse requests after this many", count)
    .option("--max-bytes <n>", "refuse requests once this many request and response bytes went through", count)
    .option("--rate <n/unit>", "at most N requests per s, m or h, e.g. 5/s");
}

/** The session policy the flags ask for (undefined for none), checked later against the provider's roster. */
export async function policyFromFlags(flags: PolicyFlags) {
  const { sessionPolicyFromFlags } = await import("../../proxy/policy.js");
  return sessionPolicyFromFlags(flags);
}

export interface ProxyClientOptions extends PolicyFlags {
  session: string;
  set: string;
  /** Default: the running daemon's proxy URL (it is the one that knows it). */
  baseUrl?: string;
  configDir?: string;
  caFile?: string;
  socket?: string;
  json?: boolean;
}

/**
 * `proxy serve` is `authctl serve`: one daemon per home serves the credential service and the proxy,
 * with one lock, one refresher per login and one audit log. Kept as a name for existing scripts.
 */
export async function runProxyServe(f: Factory, opts: ProxyServeOptions): Promise<void> {
  await runServe(f, { ...(opts.port !== undefined ? { proxyPort: opts.port } : {}), ...(opts.socket ? { proxySocket: opts.socket } : {}), ...(opts.json ? { json: true } : {}), ...(opts.tls === false ? { tls: false } : {}) });
}

/** Mints phantoms for a session and prints what its client needs (env and config files): no real token. */
export async function runProxyClient(f: Factory, provider: string, opts: ProxyClientOptions): Promise<void> {
  const context = await f.context();
  await f.unlockedStore();
  const { proxyClientConfig } = await import("../../proxy/clientConfig.js");
  const policy = await policyFromFlags(opts);
  const baseUrl = opts.baseUrl ?? (await daemonProxyUrl(context));
  const config = proxyClientConfig(provider, { context, ...(policy ? { policy } : {}), sessionId: opts.session, credentialSet: opts.set, baseUrl, configDir: opts.configDir, caFile: opts.caFile, socketPath: opts.socket });
  const { phantoms, ...rest } = config;
  if (opts.json) printJson(f.io, { ...rest, sessionId: phantoms.sessionId, expiresAt: phantoms.expiresAt.toISOString() });
  else {
    for (const [name, value] of Object.entries(config.env)) out(f.io, `export ${name}='${value}'`);
    for (const path of Object.keys(config.files)) err(f.io, `(file ${path}: use --json to get its content)`);
  }
}

/** The URL of this home's running proxy, for a client that was not told one. */
async function daemonProxyUrl(context: Authctl): Promise<string> {
  const { runningProxy } = await import("../../serve/daemon.js");
  const proxy = await runningProxy(context);
  const fix = "or pass --base-url (how the client reaches the proxy)";
  if (!proxy) throw new ServiceError(`no authctl service runs for this home, so the proxy's URL is unknown: start one with \`authctl serve --detach --proxy-port 8787\`, ${fix}`);
  if (!proxy.url) throw new ServiceError(`the running authctl service's proxy listens on ${proxy.socket} only, with no URL: restart it with a port (\`authctl serve stop\`, then \`authctl serve --detach --proxy-port 8787\`), ${fix}`);
  return proxy.url;
}

/** A session's narrowing in a table cell: what it allows, in a few words. */
function policySummary(policies: Record<string, SessionPolicy>): string {
  const one = (p: SessionPolicy) =>
    [
      p.methods?.join(","),
      p.allow?.length ? `allow ${p.allow.length}` : undefined,
      p.deny?.length ? `deny ${p.deny.length}` : undefined,
      p.grants?.length ? `grants ${p.grants.join(",")}` : undefined,
      p.maxRequests !== undefined ? `max ${p.maxRequests} requests` : undefined,
      p.maxBytes !== undefined ? `max ${p.maxBytes} bytes` : undefined,
      p.rate ? `${p.rate.count}/${RATE_UNITS[p.rate.perMs] ?? `${p.rate.perMs}ms`}` : undefined,
    ]
      .filter(Boolean)
      .join(" ");
  const parts = Object.entries(policies).map(([provider, p]) => `${provider}: ${one(p) || "-"}`);
  return parts.length > 0 ? parts.join("; ") : "roster route";
}
const RATE_UNITS: Record<number, string> = { 1000: "s", 60_000: "m", 3_600_000: "h" };

/** `proxy list`: the sessions container-args and proxy client minted phantoms for, to find them again. */
export async function runProxyList(f: Factory, opts: { all?: boolean; json?: boolean }): Promise<void> {
  const context = await f.context();
  const { listSessions } = await import("../../proxy/phantoms.js");
  const sessions = listSessions({ context, all: Boolean(opts.all) });
  if (opts.json) {
    return printJson(f.io, { sessions: sessions.map((s) => ({ ...s, createdAt: s.createdAt.toISOString(), expiresAt: s.expiresAt.toISOString() })) });
  }
  if (sessions.length === 0) return err(f.io, `no ${opts.all ? "" : "live "}proxy sessions (\`authctl container-args\` and \`authctl proxy client\` start them${opts.all ? "" : "; --all shows ended ones"})`);
  const rows = [["SESSION", "PROVIDERS", "SET", "CREATED", "EXPIRES", "STATE", "POLICY"]];
  const now = context.clock.now();
  for (const s of sessions) {
    const when = (d: Date) => timeText(d, now, { relativeOnly: true });
    rows.push([s.sessionId, s.providers.join(","), s.credentialSets.join(","), when(s.createdAt), when(s.expiresAt), stateColor(f.io, s.state === "live" ? "valid" : s.state, s.state), policySummary(s.policies)]);
  }
  out(f.io, table(rows, f.io).join("\n"));
}

function unknownSession(session: string, validId: boolean, agentSessions: string): AuthctlError {
  // An id that is not a session id may be a token pasted in the wrong place: not echoed.
  const shown = validId ? `"${session}"` : `(${session.length} characters that are not a session id; not shown)`;
  return new AuthctlError(`no proxy session ${shown}: no phantom token was minted for it and it has no agent container files; the agent sessions are the directories in ${agentSessions} (each \`authctl container-args\` prints its own)`);
}

export async function runProxyRevoke(f: Factory, session: string, opts: { json?: boolean } = {}): Promise<void> {
  const context = await f.context();
  const [{ revokeSession, sessionKnown, isSessionId }, { removeAgentSessionFiles }] = await Promise.all([import("../../proxy/phantoms.js"), import("../../proxy/agentContainer.js")]);
  const known = sessionKnown(session, { context });
  const revoked = revokeSession(session, { context });
  const say = () => out(f.io, `revoked ${revoked} phantom token(s) of session ${session}`);
  // Said before the files go: their removal can fail, and the revocation stands anyway.
  if (known && !opts.json) say();
  const filesRemoved = removeAgentSessionFiles(session, { context });
  if (!known && !filesRemoved) throw unknownSession(session, isSessionId(session), context.paths.agentSessions);
  if (opts.json) return printJson(f.io, { sessionId: session, revoked, filesRemoved });
  if (!known) say();
  if (filesRemoved) out(f.io, `removed its agent container files`);
}

export function proxyCommand(f: Factory): Command {
  const proxy = new Command("proxy").description("credential proxy: containers get phantom tokens, the proxy swaps in the real ones");
  proxy
    .command("serve")
    .description("same as `authctl serve` (the daemon serves the proxy): its socket, and 127.0.0.1:<port> with --port")
    .option("--port <n>", "also a TCP port on 127.0.0.1 (0: any free port)", portNumber)
    .option("--socket <path>", "Unix socket path (created 0600; default: proxy.sock beside the service socket)")
    .option("--no-tls", "plain HTTP only (Codex in ChatGPT mode needs TLS: the proxy's local CA, $AUTHCTL_HOME/proxy-ca)")
    .option("--json", "print the listening address as JSON")
    .action(async (opts: ProxyServeOptions) => runProxyServe(f, opts));
  const client = proxy
    .command("client")
    .description("mint phantom tokens for a session and print the env/config its client needs")
    .argument("<provider>", "provider name, see `authctl providers`")
    .requiredOption("--session <id>", "the container or agent session the phantoms belong to")
    .option("--base-url <url>", "how the client reaches the proxy, e.g. http://127.0.0.1:8787 (default: the running daemon's proxy URL)")
    .option("--set <set>", "credential set", DEFAULT_SET)
    .option("--config-dir <dir>", "the vendor config dir as the client sees it")
    .option("--socket <path>", "the proxy's Unix socket as the client sees it (gh talks to the proxy only through it)")
    .option("--ca-file <path>", "the proxy's CA certificate as a TLS client sees it (default: $AUTHCTL_HOME/proxy-ca/ca.pem)")
    .option("--json", "print JSON (env and file contents)");
  addPolicyFlags(client).action(async (provider: string, opts: ProxyClientOptions) => runProxyClient(f, provider, opts));
  proxy
    .command("list")
    .description("the proxy sessions (container-args, proxy client): id, providers, set, created, expiry, policy; never a phantom")
    .option("--all", "also the ended ones (revoked or expired)")
    .option("--json", "print JSON: sessions with sessionId, providers, credentialSets, createdAt, expiresAt, state, policies")
    .action(async (opts: { all?: boolean; json?: boolean }) => runProxyList(f, opts));
  proxy
    .command("revoke")
    .description("revoke every phantom token of a session (its container ended)")
    .argument("<session>", "session id")
    .option("--json", "print JSON: sessionId, revoked (how many phantoms), filesRemoved")
    .action(async (session: string, opts: { json?: boolean }) => runProxyRevoke(f, session, opts));
  return withExamples(proxy, f.io, [
    ["the sessions that hold phantom tokens", "authctl proxy list"],
    ["phantoms and client settings for one session", "authctl proxy client anthropic --session box-1 --json"],
    ["end a session: its phantoms stop working", "authctl proxy revoke box-1"],
  ]);
}
