import * as z from "zod";
import { type CapturedAccount, type Extractor, nonEmpty, optString, validate, withAccounts } from "../extractorKit.js";

/** opencode's auth.json: provider name → an OAuth login, an API key or a well-known token. */
export const OpencodeAuthSchema = z
  .record(
    z.string(),
    z.discriminatedUnion("type", [
      z.looseObject({ type: z.literal("oauth"), access: nonEmpty, refresh: optString, expires: z.number().nullish() }),
      z.looseObject({ type: z.literal("api"), key: nonEmpty }),
      z.looseObject({ type: z.literal("wellknown"), token: nonEmpty, key: optString }),
    ]),
  )
  .refine((providers) => Object.keys(providers).length > 0, "lists no provider");

export const opencode: Extractor = (parsed, files) => {
  const path = files[0]?.path ?? "auth.json";
  const providers = validate("opencode", OpencodeAuthSchema, parsed[0], files[0]);
  const accounts: CapturedAccount[] = Object.entries(providers).map(([name, auth]) => {
    if (auth.type === "oauth") return { name, accessToken: auth.access, ...(auth.refresh ? { refreshToken: auth.refresh } : {}) };
    return { name, accessToken: auth.type === "api" ? auth.key : auth.token };
  });
  return withAccounts("opencode", path, accounts, "", parsed[0], "lists no provider");
};
