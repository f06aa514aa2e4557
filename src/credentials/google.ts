import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import { array, nullish, number, object, oneOf, optional, string } from "./shape.js";
import { lazySchema, type CredentialType } from "./type.js";

/** A Google login: the client (its installed-app secret is not confidential, but stays sealed) and the tokens. */
const schema = lazySchema(() =>
  z.looseObject({
    type: z.literal("google_oauth"),
    clientId: z.string(),
    clientSecret: z.string().optional(),
    scopes: z.array(z.string()),
    /** google-auth-library's `Credentials` (all of its fields), as its refreshes write them (nulls included). */
    tokens: z.object({
      access_token: z.string().nullish(),
      refresh_token: z.string().nullish(),
      expiry_date: z.number().nullish(),
      token_type: z.string().nullish(),
      scope: z.string().optional(),
      id_token: z.string().nullish(),
    }),
  }),
);
export type GooglePayload = z.infer<ReturnType<typeof schema>>;

export const google: CredentialType<GooglePayload> = {
  type: "google_oauth",
  mode: "oauth",
  schema,
  shape: object({
    type: oneOf(["google_oauth"]),
    clientId: string(),
    clientSecret: optional(string()),
    scopes: array(string()),
    tokens: object({
      access_token: nullish(string()),
      refresh_token: nullish(string()),
      expiry_date: nullish(number()),
      token_type: nullish(string()),
      scope: optional(string()),
      id_token: nullish(string()),
    }),
  }),
  kind: () => "google_oauth",
  secret: (p) => p.tokens.access_token ?? undefined,
  expiresAt: (p) => (p.tokens.refresh_token ? null : p.tokens.expiry_date ? new Date(p.tokens.expiry_date) : null),
  preview: (p) => (p.tokens.access_token ? maskSecret(p.tokens.access_token) : "****"),
  refreshToken: (p) => p.tokens.refresh_token ?? undefined,
};
