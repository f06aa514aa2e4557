import * as z from "zod";
import { type CapturedAccount, type Extractor, optString, validate, withAccounts } from "../extractorKit.js";

const GhHostSchema = z.looseObject({
  oauth_token: optString,
  user: optString,
  git_protocol: optString,
  users: z.record(z.string(), z.looseObject({ oauth_token: optString }).nullish()).nullish(),
});

export const GhHostsSchema = z
  .record(z.string(), GhHostSchema)
  .refine((hosts) => Object.keys(hosts).length > 0, "lists no host");

export const gh: Extractor = (parsed, files) => {
  const path = files[0]?.path ?? "hosts.yml";
  const hosts = validate("gh", GhHostsSchema, parsed[0], files[0]);
  // Every logged-in host survives (github.com and an Enterprise host in one set); older gh keeps
  // the token beside `user`, newer gh also under `users.<user>`.
  const accounts: CapturedAccount[] = [];
  for (const [host, entry] of Object.entries(hosts)) {
    const user = entry.user ?? undefined;
    const token =
      entry.oauth_token || (user && entry.users && Object.prototype.hasOwnProperty.call(entry.users, user) ? entry.users[user]?.oauth_token : undefined);
    if (token) accounts.push({ name: host, accessToken: token, ...(user ? { user } : {}) });
  }
  const problem = "no host has an oauth_token (gh may have used a keyring; log in with --insecure-storage)";
  return withAccounts("gh", path, accounts, "github.com", parsed[0], problem);
};
