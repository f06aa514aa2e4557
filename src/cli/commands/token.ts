import { Command } from "commander";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { printToken } from "../tokenOutput.js";

export interface TokenOpts {
  set?: string;
  json?: boolean;
}

/**
 * `authctl token <provider>`: one credential's secret on stdout, for scripts and other tools'
 * helpers (like `gh auth token`). The roster and the credential model load only here.
 */
export async function runToken(f: Factory, provider: string, opts: TokenOpts): Promise<void> {
  const context = await f.context();
  const { credentialReader, serviceGrant } = await import("../../access/storedCredential.js");
  // Inside `authctl run` the service answers with the run's token; no store key is needed.
  if (!serviceGrant(context)) await f.unlockedStore();
  const { chosenSet, readSecret } = await import("../../access/providerSecret.js");
  // A host login's access token about to lapse is refreshed (and stored) first, as `run` does.
  if (!serviceGrant(context)) await (await import("../../access/freshness.js")).refreshIfDue(context, chosenSet(context, opts.set), context.roster().get(provider).name);
  printToken(f.io, opts.json, readSecret(context, provider, opts.set === undefined ? {} : { credentialSet: opts.set }, await credentialReader(context)));
}

export function tokenCommand(f: Factory): Command {
  const command = new Command("token")
    .description("print one credential's secret on stdout, for scripts and other tools' credential helpers")
    .argument("<provider>", "e.g. gh, anthropic (see `authctl providers`)")
    .option("--set <set>", "credential set (default: $AUTHCTL_SET, else the nearest authctl.yaml's, else 'default')")
    .option("--json", "print JSON: credentialSet, provider, kind, token, expiresAt")
    .action((provider: string, opts: TokenOpts) => runToken(f, provider, opts));
  return withExamples(command, f.io, [
    ["one credential's secret, for a script", "authctl token gh"],
    ["another tool's own variable, for one command", "GH_TOKEN=$(authctl token gh --set ci) gh release list"],
  ]);
}
