import type { Authctl } from "../context.js";
import { readFacts } from "../credentials/facts.js";
import type { FreshOptions } from "./fresh.js";

/** Refresh this long before the access token lapses, so the process handed it can still use it. */
export const REFRESH_SKEW_MS = 60_000;

/**
 * Whether (set, provider)'s row may be a host login due for a refresh, told from its facts without
 * opening it: the facts are written with every payload and sealed with it, so a row whose facts
 * were changed in the database fails to open wherever it is read. A row without facts (written
 * before they were kept), a Google login (its facts hold no expiry) and a rejected token are
 * always handed to the refresher.
 */
export function mayBeDue(context: Authctl, credentialSet: string, provider: string, options: Pick<FreshOptions, "skewMs" | "rejected"> = {}): boolean {
  const info = context.store().info(credentialSet, provider);
  if (!info) return false;
  const facts = readFacts(info.meta);
  if (!facts || facts.type === "google_oauth" || options.rejected !== undefined) return true;
  if (facts.type !== "oauth2" && facts.type !== "msal") return false;
  return facts.tokenExpiresAt !== null && facts.tokenExpiresAt.getTime() - (options.skewMs ?? REFRESH_SKEW_MS) <= context.clock.now();
}

/**
 * `freshCredential` for a row that may be due: the refresher's module, and the network guard its
 * refresh dials through, load only then, so reading an API key or a login that is not due loads neither.
 */
export async function refreshIfDue(context: Authctl, credentialSet: string, provider: string, options: FreshOptions = {}): Promise<void> {
  if (!mayBeDue(context, credentialSet, provider, options)) return;
  const { freshCredential } = await import("./fresh.js");
  await freshCredential(context, credentialSet, provider, options);
}
