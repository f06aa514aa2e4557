import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Authctl } from "../context.js";
import { AuthctlError, UsageError } from "../core/errors.js";
import { assertSetName } from "../core/names.js";
import { gitHost } from "../roster/gitSchema.js";
import type { Provider } from "../roster/schema.js";
import { mayCarryToken } from "./gitHosts.js";

export interface SetupGitOptions {
  /** `github.com`, `https://git.example.com:8443`, or `http://127.0.0.1:PORT` (plain http only to this machine). */
  host?: string;
  provider?: string;
  credentialSet?: string;
  /** How git starts authctl: the program and its leading arguments (the running binary, by absolute path). */
  authctl: readonly string[];
}

/** One `credential.<url>.helper` entry setup-git writes. */
export interface GitHelperEntry {
  url: string;
  provider: string;
  helper: string;
}

const shellQuote = (word: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`);

function parseHost(text: string): { protocol: string; host: string } {
  const match = /^(?:(https?):\/\/)?([^/]+)\/?$/.exec(text.trim().toLowerCase());
  const protocol = match?.[1] ?? "https";
  const host = match?.[2] ?? "";
  if (!gitHost.safeParse(host).success) throw new UsageError(`--host ${JSON.stringify(text.slice(0, 80))} is not a git host: give a host name with an optional port (git.example.com:8443), or its https:// URL`);
  if (!mayCarryToken(protocol, host)) throw new UsageError(`--host ${text}: a token goes over https, or over plain http only to this machine (localhost, 127.0.0.1); use https://${host}`);
  return { protocol, host };
}

/** The entries for the options: one host, a provider's roster hosts, or every host the roster declares. */
export function gitHelperEntries(context: Authctl, options: SetupGitOptions): GitHelperEntry[] {
  const roster = context.roster();
  const set = options.credentialSet === undefined ? [] : ["--set", assertSetName(options.credentialSet)];
  const named = options.provider === undefined ? undefined : roster.get(options.provider);
  const entry = (provider: Provider, protocol: string, host: string): GitHelperEntry => {
    const extraHost = provider.git?.hosts.includes(host) ? [] : ["--host", host];
    const argv = [...options.authctl, "git-credential", "--provider", provider.name, ...extraHost, ...set];
    return { url: `${protocol}://${host}`, provider: provider.name, helper: `!${argv.map(shellQuote).join(" ")}` };
  };
  if (options.host !== undefined) {
    const { protocol, host } = parseHost(options.host);
    const provider = named ?? roster.list().find((p) => p.git?.hosts.includes(host));
    if (!provider) throw new UsageError(`no provider declares the git host ${host}: name the one whose credential it takes with --provider (e.g. --provider gh)`);
    return [entry(provider, protocol, host)];
  }
  const providers = named ? [named] : roster.list().filter((p) => p.git);
  if (named && !named.git) throw new UsageError(`${named.name} declares no git hosts in its roster entry: name the host with --host`);
  return providers.flatMap((p) => p.git!.hosts.map((host) => entry(p, "https", host)));
}

const run = promisify(execFile);

async function git(context: Authctl, args: string[]): Promise<void> {
  try {
    await run("git", args, { env: context.env as NodeJS.ProcessEnv, timeout: 30_000 });
  } catch (error) {
    const e = error as { code?: unknown; stderr?: string };
    if (e.code === "ENOENT") throw new AuthctlError("git was not found on PATH: install git, then run setup-git again");
    throw new AuthctlError(`git ${args.slice(0, 3).join(" ")} failed: ${(e.stderr ?? String(error)).trim().split("\n")[0]}`);
  }
}

/**
 * Points git at authctl for each entry's URL in the user's global git config, the way
 * `gh auth setup-git` does: an empty `helper` first clears the helpers inherited from broader
 * entries (a cache or a store helper would otherwise write the token to disk), then authctl's.
 * Running it again leaves the same two lines.
 */
export async function setupGit(context: Authctl, options: SetupGitOptions): Promise<GitHelperEntry[]> {
  const entries = gitHelperEntries(context, options);
  for (const { url, helper } of entries) {
    const key = `credential.${url}.helper`;
    await git(context, ["config", "--global", "--replace-all", key, ""]);
    await git(context, ["config", "--global", "--add", key, helper]);
  }
  return entries;
}
