import { Command, InvalidArgumentError } from "commander";
import { appendFileSync, closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../../core/errors.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { Factory } from "../factory.js";
import { err, out, printJson } from "../io.js";

export interface ProxyServeOptions {
  port?: number;
  socket?: string;
  /** commander's `--no-tls`: true unless given. */
  tls?: boolean;
  json?: boolean;
}

export interface ProxyClientOptions {
  session: string;
  set: string;
  baseUrl: string;
  configDir?: string;
  caFile?: string;
  socket?: string;
  json?: boolean;
}

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port number (0 picks a free one)");
  return n;
};

/** Serves the credential proxy until SIGINT/SIGTERM; each request is appended to a 0600 audit log. */
export async function runProxyServe(f: Factory, opts: ProxyServeOptions): Promise<void> {
  if (opts.port === undefined && opts.socket === undefined) throw new UsageError("give --port <n> (127.0.0.1) and/or --socket <path>");
  const context = await f.context();
  await f.unlockedStore();
  const [{ createCredentialProxy }, { listenProxy }, { localCa }] = await Promise.all([
    import("../../proxy/proxy.js"),
    import("../../proxy/server.js"),
    import("../../proxy/localCa.js"),
  ]);
  const auditLog = join(context.home, "proxy-audit.log");
  closeSync(openSync(auditLog, "a", 0o600));
  const proxy = createCredentialProxy({ context, onAudit: (entry) => appendFileSync(auditLog, JSON.stringify({ at: new Date(context.clock.now()).toISOString(), ...entry }) + "\n") });
  const ca = opts.tls === false ? undefined : localCa({ context });
  const tls = ca && { identity: () => ca.issueServerIdentity() };
  const listening = await listenProxy(proxy, { port: opts.port, socketPath: opts.socket, signal: f.signal, tls });
  if (opts.json) {
    printJson(f.io, { url: listening.url ?? null, tlsUrl: listening.tlsUrl ?? null, socket: listening.socketPath ?? null, caFile: ca?.certificateFile ?? null, auditLog });
  } else {
    out(f.io, `authctl proxy listening on ${[listening.url, listening.socketPath].filter(Boolean).join(" and ")} (audit: ${auditLog})`);
    if (ca) out(f.io, `TLS too, on the same listeners: clients trust ${ca.certificateFile}`);
  }
  await new Promise<void>((resolve) => {
    if (f.signal.aborted) resolve();
    f.signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await listening.close();
  err(f.io, "authctl proxy stopped");
}

/** Mints phantoms for a session and prints what its client needs (env and config files): no real token. */
export async function runProxyClient(f: Factory, provider: string, opts: ProxyClientOptions): Promise<void> {
  const context = await f.context();
  await f.unlockedStore();
  const { proxyClientConfig } = await import("../../proxy/clientConfig.js");
  const config = proxyClientConfig(provider, { context, sessionId: opts.session, credentialSet: opts.set, baseUrl: opts.baseUrl, configDir: opts.configDir, caFile: opts.caFile, socketPath: opts.socket });
  const { phantoms, ...rest } = config;
  if (opts.json) printJson(f.io, { ...rest, sessionId: phantoms.sessionId, expiresAt: phantoms.expiresAt.toISOString() });
  else {
    for (const [name, value] of Object.entries(config.env)) out(f.io, `export ${name}='${value}'`);
    for (const path of Object.keys(config.files)) err(f.io, `(file ${path}: use --json to get its content)`);
  }
}

export async function runProxyRevoke(f: Factory, session: string): Promise<void> {
  const context = await f.context();
  const [{ revokeSession }, { removeAgentSessionFiles }] = await Promise.all([import("../../proxy/phantoms.js"), import("../../proxy/agentContainer.js")]);
  out(f.io, `revoked ${revokeSession(session, { context })} phantom token(s) of session ${session}`);
  if (removeAgentSessionFiles(session, { context })) out(f.io, `removed its agent container files`);
}

export function proxyCommand(f: Factory): Command {
  const proxy = new Command("proxy").description("credential proxy: containers get phantom tokens, the proxy swaps in the real ones");
  proxy
    .command("serve")
    .description("serve the proxy on 127.0.0.1:<port> and/or a Unix socket until interrupted")
    .option("--port <n>", "TCP port on 127.0.0.1 (0: any free port)", port)
    .option("--socket <path>", "Unix socket path (created 0600)")
    .option("--no-tls", "plain HTTP only (Codex in ChatGPT mode needs TLS: the proxy's local CA, $AUTHCTL_HOME/proxy-ca)")
    .option("--json", "print the listening address as JSON")
    .action(async (opts: ProxyServeOptions) => runProxyServe(f, opts));
  proxy
    .command("client")
    .description("mint phantom tokens for a session and print the env/config its client needs")
    .argument("<provider>", "provider name, see `authctl providers`")
    .requiredOption("--session <id>", "the container or agent session the phantoms belong to")
    .requiredOption("--base-url <url>", "how the client reaches the proxy, e.g. http://127.0.0.1:8787")
    .option("--set <set>", "credential set", DEFAULT_SET)
    .option("--config-dir <dir>", "the vendor config dir as the client sees it")
    .option("--socket <path>", "the proxy's Unix socket as the client sees it (gh talks to the proxy only through it)")
    .option("--ca-file <path>", "the proxy's CA certificate as a TLS client sees it (default: $AUTHCTL_HOME/proxy-ca/ca.pem)")
    .option("--json", "print JSON (env and file contents)")
    .action(async (provider: string, opts: ProxyClientOptions) => runProxyClient(f, provider, opts));
  proxy
    .command("revoke")
    .description("revoke every phantom token of a session (its container ended)")
    .argument("<session>", "session id")
    .action(async (session: string) => runProxyRevoke(f, session));
  return proxy;
}
