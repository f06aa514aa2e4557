import { contextFrom, type WithContext } from "../context.js";
import { ProviderArgument, SetOptions, validateArguments } from "../core/arguments.js";
import { CaptureError, MissingCredentialsError } from "../core/errors.js";
import { assertProviderName, assertSetName, DEFAULT_SET } from "../core/names.js";
import { fixCommandIn } from "../roster/fixCommand.js";
import type { CredentialKind } from "../store/store.js";
import { planSharedMountRemoval } from "../logins/container/sharedMount.js";

// Removing a credential is a use of what is stored, not a login: it sits in access. It reaches into
// the container login's shared-mount module for the copies that login exposed; access may import
// logins (same layer, one direction only), logins never imports access.

export interface RemoveCredentialOptions extends WithContext {
  credentialSet?: string;
  /** Parent of the shared mounts a container login wrote; defaults to `$AUTHCTL_HOME/mounts`. */
  mountsDir?: string;
}

export interface RemovedCredential {
  credentialSet: string;
  provider: string;
  /** The removed row's kind; null when only copies in the shared mounts were left to remove. */
  kind: CredentialKind | null;
  /** The copies removed from the shared mounts (exposed vendor files, phantom markers). */
  removedFiles: string[];
}

/**
 * Removes (set, provider) from the store and every copy authctl wrote of it: the files a container
 * login exposed in the set's shared mount (and in the per-provider mount of older versions). The
 * mount is checked before the row goes, so a refusal (a directory where a file should be) changes
 * nothing; copies left by an earlier removal are removed even when the row is already gone.
 * @throws MissingCredentialsError when there was neither a row nor a copy
 */
export async function removeCredential(provider: string, options: RemoveCredentialOptions = {}): Promise<RemovedCredential> {
  validateArguments("removeCredential", { provider: [ProviderArgument, provider], options: [SetOptions, options] });
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  assertProviderName(provider);
  const roster = context.roster();
  const entry = roster.has(provider) ? roster.get(provider) : undefined;
  const mount = entry?.oauth ? await planSharedMountRemoval(options.mountsDir ?? context.paths.mounts, entry.oauth, credentialSet, provider) : undefined;
  const store = context.store();
  const row = store.info(credentialSet, provider);
  const removedRow = store.remove(credentialSet, provider);
  if (removedRow) store.audit("removed", credentialSet, provider, row?.kind);
  const removedFiles = [...(mount?.files ?? [])];
  if (!removedRow && removedFiles.length === 0) {
    throw new MissingCredentialsError(provider, credentialSet, fixCommandIn(roster, provider, credentialSet));
  }
  try {
    await mount?.commit();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CaptureError(`${removedRow ? `removed ${credentialSet}:${provider} from the store, but ` : ""}${why}; remove the file by hand`, { cause: err });
  }
  return { credentialSet, provider, kind: removedRow ? (row?.kind ?? null) : null, removedFiles };
}
