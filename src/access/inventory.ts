import { contextFrom, type WithContext } from "../context.js";
import { SetOptions, validateArguments } from "../core/arguments.js";
import { credentialListing, type CredentialListing } from "./listCredentials.js";
import { gatherStatus, type AuthctlStatus } from "./status.js";
import * as z from "zod";

export interface ListCredentialsOptions extends WithContext {
  /** Only this set; default every set. */
  credentialSet?: string;
}

export interface StatusOptions extends WithContext {
  /** Only this set; also the set `require` checks (default `default`). */
  credentialSet?: string;
  /** Providers that must be present: each missing one is a `missing` row with the command that adds it. */
  require?: readonly string[];
}

const StatusArgs = SetOptions.extend({ require: z.array(z.string()).readonly().optional() });

/** What `authctl creds list --json` prints: every stored credential (or one set's), never a secret. */
export function listCredentials(options: ListCredentialsOptions = {}): CredentialListing[] {
  validateArguments("listCredentials", { options: [SetOptions, options] });
  const context = contextFrom(options);
  return credentialListing(context.store(), context.clock.now(), options.credentialSet);
}

/**
 * What `authctl status --json` prints: the store's facts and which logins work. A locked store is
 * reported in `lockProblem`; only a key source the context's env names can unlock it (no prompt).
 */
export async function status(options: StatusOptions = {}): Promise<AuthctlStatus> {
  validateArguments("status", { options: [StatusArgs, options] });
  const context = contextFrom(options);
  return gatherStatus({ store: context.store(), env: context.env, now: context.clock.now(), roster: () => context.roster() }, options);
}
