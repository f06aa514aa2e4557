import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import { array, object, oneOf, optional, record, string } from "./shape.js";
import { lazySchema, type CredentialType } from "./type.js";

/** One of several logins in one vendor file: where (host or provider name), who, and its token. */
const capturedAccountSchema = lazySchema(() =>
  z.looseObject({
    name: z.string(),
    user: z.string().optional(),
    accessToken: z.string().min(1),
    refreshToken: z.string().optional(),
  }),
);
export type CapturedAccount = z.infer<ReturnType<typeof capturedAccountSchema>>;

/**
 * A vendor CLI's login captured from its container (claude, codex, gemini, gh, glab, opencode,
 * qwen: one shape for all): the vendor files verbatim, so the CLI can be handed them back
 * unchanged, plus the tokens the vendor's extractor found in them.
 */
const schema = lazySchema(() =>
  z.looseObject({
    type: z.literal("oauth"),
    provider: z.string().default(""),
    /** Roster-relative path → exact file text. */
    files: z.record(z.string(), z.string()),
    accessToken: z.string().min(1),
    refreshToken: z.string().optional(),
    account: z.string().optional(),
    /** Every account the file holds when it holds several (gh/glab hosts, opencode providers); the first is `accessToken`'s. */
    accounts: z.array(capturedAccountSchema()).optional(),
  }),
);
export type ContainerLoginPayload = z.infer<ReturnType<typeof schema>>;

export const containerLogin: CredentialType<ContainerLoginPayload> = {
  type: "oauth",
  mode: "oauth",
  schema,
  shape: object({
    type: oneOf(["oauth"]),
    provider: optional(string()),
    files: record(string()),
    accessToken: string({ nonEmpty: true }),
    refreshToken: optional(string()),
    account: optional(string()),
    accounts: optional(array(object({ name: string(), user: optional(string()), accessToken: string({ nonEmpty: true }), refreshToken: optional(string()) }))),
  }),
  defaults: { provider: "" },
  kind: () => "oauth",
  secret: (p) => p.accessToken,
  // The expiry is a field of the vendor's file (the roster says which): the capture passes it along.
  expiresAt: () => null,
  preview: (p) => maskSecret(p.accessToken),
  refreshToken: (p) => p.refreshToken,
};

function replaceAll(text: string, from: string | undefined, to: string | undefined): string {
  return from && to && from !== to ? text.split(from).join(to) : text;
}

/** Its refresh: the rotated tokens, also written into the vendor files kept with the login (same text, new tokens). */
export function rotatedLogin(payload: ContainerLoginPayload, tokens: { access_token: string; refresh_token?: string }): ContainerLoginPayload {
  const files: Record<string, string> = {};
  for (const [path, text] of Object.entries(payload.files)) {
    files[path] = replaceAll(replaceAll(text, payload.accessToken, tokens.access_token), payload.refreshToken, tokens.refresh_token);
  }
  return {
    ...payload,
    files,
    accessToken: tokens.access_token,
    ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
  };
}
