import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import type { CredentialType } from "./type.js";

export const ApiKeyPayloadSchema = z.looseObject({ type: z.literal("api_key"), key: z.string().min(1) });
export type ApiKeyPayload = z.infer<typeof ApiKeyPayloadSchema>;

export const apiKey: CredentialType<ApiKeyPayload> = {
  type: "api_key",
  mode: "api_key",
  schema: ApiKeyPayloadSchema,
  kind: () => "api_key",
  secret: (p) => p.key,
  expiresAt: () => null,
  preview: (p) => maskSecret(p.key),
};
