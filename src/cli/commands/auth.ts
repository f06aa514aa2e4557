import { Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../../core/errors.js";
import { assertImageReference } from "../../core/imageRef.js";
import { DEFAULT_SET } from "../../core/names.js";
import type { AuthMode } from "../../roster/schema.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { out, printJson, stdinIsTTY } from "../io.js";

export interface AuthCliOptions {
  project?: string;
  set?: string;
  mode?: AuthMode;
  image?: string;
  exposeToken?: boolean;
  json?: boolean;
  clientId?: string;
  clientSecretStdin?: boolean;
  tenantId?: string;
  scopes?: string;
}

/** `--scopes "a b"` or `--scopes a,b`. */
export const scopeList = (scopes: string | undefined) => scopes?.split(/[\s,]+/).filter(Boolean);

/** `--project P` alone implies `--set P`: a project's logins live in the project's set. */
export function credentialSetFor(opts: { project?: string; set?: string }): string {
  return opts.set ?? opts.project ?? DEFAULT_SET;
}

export async function runAuth(f: Factory, provider: string, opts: AuthCliOptions): Promise<void> {
  if (opts.project !== undefined && !opts.project.trim()) throw new UsageError("--project needs a name");
  if (opts.image !== undefined) assertImageReference(opts.image, "--image");
  const context = await f.context();
  const entry = context.roster().get(provider);
  // Root's container login runs as a sandbox id NSS is asked about (a process): asked now, so the
  // answer comes while the login layer loads and the store opens, not on the way to the container.
  if (process.getuid?.() === 0 && entry.oauth && !entry.host_flow && opts.mode !== "api_key") (await import("../../engine/index.js")).startHostIdLookup();
  // Loaded only here: read-only commands never pull in the login layer.
  const { Authenticator } = await import("../../logins/authenticator.js");
  const { terminalUi } = await import("../../ui/ui.js");
  const { readAllStdin } = await import("../../ui/prompt.js");
  // A secret never comes from argv (it would show in `ps`).
  const clientSecret = opts.clientSecretStdin ? (await readAllStdin(f.io)).trim() : undefined;
  if (opts.clientSecretStdin && !clientSecret) throw new UsageError("--client-secret-stdin: nothing was read from stdin");
  await f.unlockedStore();
  const mode = opts.mode;
  const flow = entry.host_flow?.flow;
  // A browser login on a terminal also takes the redirect URL pasted from a browser elsewhere.
  const stopReading = new AbortController();
  const pasteOnTerminal = stdinIsTTY(f.io) && !opts.clientSecretStdin && (flow === "google_pkce" || flow === "oauth2_pkce");
  const pastedRedirectUrl = pasteOnTerminal ? readLine(f, stopReading.signal) : undefined;
  const result = await new Authenticator(provider).run({
    projectId: opts.project ?? null,
    context,
    credentialSet: opts.set === undefined && opts.project === undefined ? (await import("../../access/credentialSet.js")).resolveCredentialSet(context).credentialSet : credentialSetFor(opts),
    mode,
    image: opts.image,
    exposeToken: opts.exposeToken,
    ui: terminalUi(f.io),
    signal: f.signal,
    clientId: opts.clientId,
    clientSecret,
    tenantId: opts.tenantId,
    scopes: scopeList(opts.scopes),
    pastedRedirectUrl,
  }).finally(() => stopReading.abort());
  if (opts.json) printJson(f.io, result);
  else out(f.io, `Stored ${result.credentialSet}:${result.provider} (${result.kind} ${result.preview})`);
}

/** The roster's spelling (`api_key`, as `providers` shows it); `api-key` is still taken. */
function authMode(value: string): AuthMode {
  if (value === "oauth" || value === "api_key") return value;
  if (value === "api-key") return "api_key";
  throw new InvalidArgumentError("Allowed choices are oauth, api_key.");
}

/** One line from the terminal, not in raw mode (Ctrl-C stays a signal); `stop` gives up on it. */
async function readLine(f: Factory, stop: AbortSignal): Promise<string> {
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: f.io.stdin, terminal: false });
  try {
    return await rl.question("", { signal: stop });
  } finally {
    rl.close();
  }
}

export function authCommand(f: Factory, run = runAuth): Command {
  const command = new Command("auth")
    .description("log a provider in: the vendor's own CLI in a container, a device code or browser login on the host, or an API key")
    .argument("<provider>", "provider name, see `authctl providers`")
    .option("--project <project>", "project the login is for (also the credential set unless --set is given)")
    .option("--set <set>", "credential set (default: the --project, else $AUTHCTL_SET, else the nearest authctl.yaml's, else 'default')")
    .addOption(new Option("--mode <mode>", "skip the menu: oauth or api_key").argParser(authMode))
    .option("--image <tag>", "run this image instead of building images/auth")
    .option("--expose-token", "write the real vendor files into the shared mount (default: a phantom marker)")
    .option("--client-id <id>", "host logins: the OAuth client (app registration) to log in with")
    .option("--client-secret-stdin", "host logins: read the client secret from stdin (never from argv)")
    .option("--tenant-id <tenant>", "Microsoft logins: the tenant (default from the roster: organizations)")
    .option("--scopes <scopes>", "host logins: scopes, space- or comma-separated (default from the roster)")
    .option("--json", "print the summary as JSON")
    .action((provider: string, opts: AuthCliOptions) => run(f, provider, opts));
  return withExamples(command, f.io, [
    ["log in with Claude Code's own CLI, in a container", "authctl auth claude"],
    ["log in for one project: its credential set is acme", "authctl auth gh --project acme"],
    ["store an API key instead of logging in", "authctl auth claude --mode api_key"],
  ]);
}
