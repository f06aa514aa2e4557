import { serviceGrant } from "../access/credentials.js";
import { chosenSet, secretFor } from "../access/secret.js";
import type { Authctl } from "../context.js";
import { SET_NAME } from "../core/names.js";
import type { Provider } from "../roster/schema.js";
import { gitUsernameOf } from "./gitHosts.js";

export interface GitAnswerOptions {
  /** The set the host's helper entry names (`setup-git --set`); wins over the request's user name. */
  credentialSet?: string;
}

/**
 * A request's user name that names a set holding this provider's credential picks that set, so one
 * host serves several accounts by URL: `https://work@github.com/org/repo` reads set "work".
 */
function setNamedBy(context: Authctl, username: string | undefined, provider: string): string | undefined {
  if (!username || !SET_NAME.test(username) || serviceGrant(context)) return undefined;
  return context.store().info(username, provider) ? username : undefined;
}

/** What `git credential fill` gets for a request `provider` answers: user name, token, and its expiry when known. */
export function gitAnswer(context: Authctl, provider: Provider, request: ReadonlyMap<string, string>, options: GitAnswerOptions = {}): [string, string][] {
  const username = request.get("username") || undefined;
  const credentialSet = options.credentialSet ?? setNamedBy(context, username, provider.name) ?? chosenSet(context);
  const found = secretFor(context, provider.name, { credentialSet });
  const fields: [string, string][] = [
    ["username", username ?? gitUsernameOf(provider)],
    ["password", found.secret],
  ];
  if (found.expiresAt) fields.push(["password_expiry_utc", String(Math.floor(found.expiresAt.getTime() / 1000))]);
  return fields;
}
