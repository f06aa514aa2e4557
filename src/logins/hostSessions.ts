import * as z from "zod";
import type { Authctl } from "../context.js";
import { PROVIDER_NAME, SET_NAME } from "../core/names.js";
import { GooglePkceSchema, MsalDeviceCodeSchema, OAuth2DeviceSchema, OAuth2PkceSchema } from "../roster/hostFlowSchema.js";
import { sessionStore } from "./sessionStore.js";

/** What a host login asks the user to do: enter a code at a URL, or open an authorization URL. */
export const HostPromptSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("device_code"), userCode: z.string(), verificationUri: z.string(), message: z.string(), expiresAt: z.string().nullable() }),
  z.strictObject({ kind: z.literal("auth_url"), authUrl: z.string(), redirectUri: z.string() }),
]);

/**
 * A prepared host login, as kept for `authctl session capture <id>` in another process. Only
 * short-lived values (a device code, a PKCE verifier); the file goes on capture or cleanup.
 */
export const OAuth2LoginStateSchema = z.strictObject({
  method: z.union([MsalDeviceCodeSchema.shape.flow, GooglePkceSchema.shape.flow, OAuth2DeviceSchema.shape.flow, OAuth2PkceSchema.shape.flow]),
  provider: z.string().regex(PROVIDER_NAME),
  credentialSet: z.string().regex(SET_NAME),
  title: z.string(),
  clientId: z.string(),
  tenantId: z.string().optional(),
  scopes: z.array(z.string()),
  prompt: HostPromptSchema,
  device: z
    .strictObject({ device_code: z.string(), user_code: z.string(), verification_uri: z.string(), expires_in: z.number(), interval: z.number().optional() })
    .optional(),
  pkce: z.strictObject({ verifier: z.string(), state: z.string(), redirectUri: z.string() }).optional(),
});

/** Host sessions sit beside the container ones as `<id>.host.json`. */
const store = sessionStore(".host.json", OAuth2LoginStateSchema);

export const saveHostSession = (context: Authctl, state: z.infer<typeof OAuth2LoginStateSchema>): string => store.save(context, state).id;
export const hostSessionExists = (context: Authctl, id: string): boolean => store.exists(context, id);
export const loadHostSession = (context: Authctl, id: string) => store.load(context, id).state;
export const forgetHostSession = (context: Authctl, id: string): void => store.forget(context, id);

/** Host sessions nobody captured within a day: their codes have long expired, so only the file goes. */
export function sweepHostSessions(context: Authctl): void {
  for (const { id, stale } of store.list(context)) if (stale) store.forget(context, id);
}
