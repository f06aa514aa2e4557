import { Command } from "commander";
import { UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";

export interface GitCredentialOpts {
  provider?: string;
  host?: string;
  set?: string;
}

const OPERATIONS = ["get", "store", "erase"] as const;

/**
 * `authctl git-credential <get|store|erase>`, the helper git runs. `get` answers the hosts the
 * roster (or the helper entry's --provider/--host) gives a provider, and prints nothing for any
 * other so git asks its next helper. `store` and `erase` change nothing: authctl is the source of
 * the credential, and git erases after any refused push, a reason to log in again, not to forget.
 */
export async function runGitCredential(f: Factory, operation: string, opts: GitCredentialOpts): Promise<void> {
  if (!(OPERATIONS as readonly string[]).includes(operation)) throw new UsageError(`git-credential takes get, store or erase (git passes it), got ${JSON.stringify(operation.slice(0, 20))}`);
  if (opts.host && !opts.provider) throw new UsageError("git-credential --host needs --provider: the provider whose credential that host gets");
  const { formatCredentialResponse, parseCredentialRequest, readCredentialRequest } = await import("../../helpers/gitCredential.js");
  const text = await readCredentialRequest(f.io.stdin);
  if (operation !== "get") return;
  const request = parseCredentialRequest(text);
  const query = { ...(opts.provider ? { provider: opts.provider } : {}), ...(opts.host ? { host: opts.host } : {}), ...(opts.set ? { credentialSet: opts.set } : {}) };
  const context = await f.context();
  const { serviceGrant } = await import("../../access/storedCredential.js");
  const { gitCredentialFields } = await import("../../helpers/gitAnswer.js");
  const fields = await gitCredentialFields(context, request, query, {
    unlock: async () => void (serviceGrant(context) || (await f.unlockedStore())),
    // A host login's access token about to lapse is refreshed (and stored) first, as `run` and `token` do.
    beforeRead: async (provider, credentialSet) => void (serviceGrant(context) || (await (await import("../../access/freshness.js")).refreshIfDue(context, credentialSet, provider.name))),
  });
  f.io.stdout.write(formatCredentialResponse(fields));
}

export function gitCredentialCommand(f: Factory): Command {
  const command = new Command("git-credential")
    .description("git's credential helper: answers git with a stored token for the hosts a provider declares (see setup-git)")
    .argument("<operation>", "get, store or erase (git passes it)")
    .option("--provider <provider>", "answer with this provider's credential (its roster hosts, and --host)")
    .option("--host <host>", "one more host --provider answers (setup-git writes it)")
    .option("--set <set>", "credential set (default: a set named by the request's user name, else $AUTHCTL_SET, else 'default')")
    .action((operation: string, opts: GitCredentialOpts) => runGitCredential(f, operation, opts));
  return withExamples(command, f.io, [
    ["let setup-git write the helper into git's config", "authctl setup-git"],
    ["what git then runs, the request on stdin", "authctl git-credential get"],
  ]);
}
