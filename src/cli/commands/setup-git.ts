import { realpathSync } from "node:fs";
import { Command } from "commander";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { out, printJson } from "../io.js";

export interface SetupGitOpts {
  host?: string;
  provider?: string;
  set?: string;
  json?: boolean;
}

/** This authctl by absolute paths: git runs its helpers with its own PATH, maybe another node or none. */
function thisAuthctl(): string[] {
  const script = process.argv[1];
  if (!script) return ["authctl"];
  try {
    return [process.execPath, realpathSync(script)];
  } catch {
    return ["authctl"];
  }
}

/** `authctl setup-git`: git asks authctl for the tokens of the hosts the roster (or --host) names. */
export async function runSetupGit(f: Factory, opts: SetupGitOpts): Promise<void> {
  const context = await f.context();
  const { setupGit } = await import("../../helpers/gitSetup.js");
  const entries = await setupGit(context, {
    authctl: thisAuthctl(),
    ...(opts.host === undefined ? {} : { host: opts.host }),
    ...(opts.provider === undefined ? {} : { provider: opts.provider }),
    ...(opts.set === undefined ? {} : { credentialSet: opts.set }),
  });
  if (opts.json) return printJson(f.io, entries);
  for (const e of entries) out(f.io, `git asks authctl (${e.provider}) for ${e.url}`);
}

export function setupGitCommand(f: Factory): Command {
  const command = new Command("setup-git")
    .description("make git take its https tokens from authctl (credential.<url>.helper in the global git config)")
    .option("--host <host>", "only this host (git.example.com[:port], or its URL); default: every host a provider declares")
    .option("--provider <provider>", "the provider whose credential the host gets (default: the one whose roster entry lists it)")
    .option("--set <set>", "credential set the helper reads (default: chosen when git asks: the URL's user name, $AUTHCTL_SET, 'default')")
    .option("--json", "print JSON: the entries written (url, provider, helper)")
    .action((opts: SetupGitOpts) => runSetupGit(f, opts));
  return withExamples(command, f.io, [
    ["every host a provider declares (github.com for gh …)", "authctl setup-git"],
    ["one host, with the ci set's gh token", "authctl setup-git --host ghe.example.com --provider gh --set ci"],
  ]);
}
