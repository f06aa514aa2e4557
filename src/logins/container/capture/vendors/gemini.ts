import * as z from "zod";
import { accountFromIdToken, type Extractor, nonEmpty, optString, tokens, validate } from "../extractorKit.js";

export const GeminiCredsSchema = z.looseObject({
  access_token: nonEmpty,
  refresh_token: optString,
  expiry_date: z.number().nullish(),
  token_type: optString,
  scope: optString,
  id_token: optString,
});

export const gemini: Extractor = (parsed, files) => {
  const data = validate("gemini", GeminiCredsSchema, parsed[0], files[0]);
  return tokens(data.access_token, data.refresh_token, accountFromIdToken(data.id_token));
};
