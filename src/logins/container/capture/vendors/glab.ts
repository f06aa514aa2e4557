import * as z from "zod";
import { type CapturedAccount, type Extractor, optString, validate, withAccounts } from "../extractorKit.js";

/** glab's config.yml: per-host settings under `hosts`, the token at `hosts.<host>.token` (file storage). */
export const GlabConfigSchema = z.looseObject({
  hosts: z
    .record(
      z.string(),
      z.looseObject({
        token: optString,
        user: optString,
        oauth2_refresh_token: optString,
      }),
    )
    .refine((hosts) => Object.keys(hosts).length > 0, "lists no host"),
});

export const glab: Extractor = (parsed, files) => {
  const path = files[0]?.path ?? "config.yml";
  const config = validate("glab", GlabConfigSchema, parsed[0], files[0]);
  const accounts: CapturedAccount[] = [];
  for (const [host, entry] of Object.entries(config.hosts)) {
    if (!entry.token) continue;
    accounts.push({
      name: host,
      accessToken: entry.token,
      ...(entry.user ? { user: entry.user } : {}),
      ...(entry.oauth2_refresh_token ? { refreshToken: entry.oauth2_refresh_token } : {}),
    });
  }
  const problem = "no host has a token (glab may have used a keyring; log in with file storage)";
  return withAccounts("glab", path, accounts, "gitlab.com", parsed[0], problem);
};
