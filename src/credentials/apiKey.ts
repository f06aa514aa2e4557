import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import { object, oneOf, string } from "./shape.js";
import { lazySchema, type CredentialType } from "./type.js";

const schema = lazySchema(() => z.looseObject({ type: z.literal("api_key"), key: z.string().min(1) }));
export type ApiKeyPayload = z.infer<ReturnType<typeof schema>>;

export const apiKey: CredentialType<ApiKeyPayload> = {
  type: "api_key",
  mode: "api_key",
  schema,
  shape: object({ type: oneOf(["api_key"]), key: string({ nonEmpty: true }) }),
  kind: () => "api_key",
  secret: (p) => p.key,
  expiresAt: () => null,
  preview: (p) => maskSecret(p.key),
};
