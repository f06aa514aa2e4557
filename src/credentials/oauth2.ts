import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import { number, object, oneOf, optional, string } from "./shape.js";
import { lazySchema, type CredentialType } from "./type.js";

/** A generic OAuth 2.0 login's token set: enough to refresh without the roster's secret source. */
const schema = lazySchema(() =>
  z.looseObject({
    type: z.literal("oauth2"),
    clientId: z.string(),
    clientSecret: z.string().optional(),
    /** How it was obtained; absent on rows written before it was kept (read as device code). */
    grant: z.enum(["device_code", "authorization_code"]).optional(),
    access_token: z.string().min(1),
    refresh_token: z.string().optional(),
    token_type: z.string().optional(),
    scope: z.string().optional(),
    /** Epoch ms, when the server said. */
    expires_at: z.number().optional(),
  }),
);
export type OAuth2Payload = z.infer<ReturnType<typeof schema>>;

export const oauth2: CredentialType<OAuth2Payload> = {
  type: "oauth2",
  mode: "oauth",
  schema,
  shape: object({
    type: oneOf(["oauth2"]),
    clientId: string(),
    clientSecret: optional(string()),
    grant: optional(oneOf(["device_code", "authorization_code"])),
    access_token: string({ nonEmpty: true }),
    refresh_token: optional(string()),
    token_type: optional(string()),
    scope: optional(string()),
    expires_at: optional(number()),
  }),
  kind: (p) => (p.grant === "authorization_code" ? "oauth" : "device_flow"),
  secret: (p) => p.access_token,
  // A refreshable login does not expire as a whole.
  expiresAt: (p) => (p.refresh_token || p.expires_at === undefined ? null : new Date(p.expires_at)),
  preview: (p) => maskSecret(p.access_token),
  refreshToken: (p) => p.refresh_token,
};

/** When the access token itself lapses (a refresh is due), whatever the row's expiry. */
export const accessTokenExpiry = (p: OAuth2Payload): Date | null => (p.expires_at === undefined ? null : new Date(p.expires_at));
