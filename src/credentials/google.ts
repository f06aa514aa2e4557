import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import type { CredentialType } from "./type.js";

/** google-auth-library's `Credentials` (all of its fields), as its refreshes write them (nulls included). */
const GoogleTokensSchema = z.object({
  access_token: z.string().nullish(),
  refresh_token: z.string().nullish(),
  expiry_date: z.number().nullish(),
  token_type: z.string().nullish(),
  scope: z.string().optional(),
  id_token: z.string().nullish(),
});

/** A Google login: the client (its installed-app secret is not confidential, but stays sealed) and the tokens. */
export const GooglePayloadSchema = z.looseObject({
  type: z.literal("google_oauth"),
  clientId: z.string(),
  clientSecret: z.string().optional(),
  scopes: z.array(z.string()),
  tokens: GoogleTokensSchema,
});
export type GooglePayload = z.infer<typeof GooglePayloadSchema>;

export const google: CredentialType<GooglePayload> = {
  type: "google_oauth",
  mode: "oauth",
  schema: GooglePayloadSchema,
  kind: () => "google_oauth",
  secret: (p) => p.tokens.access_token ?? undefined,
  expiresAt: (p) => (p.tokens.refresh_token ? null : p.tokens.expiry_date ? new Date(p.tokens.expiry_date) : null),
  preview: (p) => (p.tokens.access_token ? maskSecret(p.tokens.access_token) : "****"),
  refreshToken: (p) => p.tokens.refresh_token ?? undefined,
};
