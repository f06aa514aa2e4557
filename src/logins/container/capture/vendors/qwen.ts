import * as z from "zod";
import { type Extractor, nonEmpty, optString, tokens, validate } from "../extractorKit.js";

export const QwenCredsSchema = z.looseObject({
  access_token: nonEmpty,
  refresh_token: optString,
  token_type: optString,
  expiry_date: z.number().nullish(),
  resource_url: optString,
});

export const qwen: Extractor = (parsed, files) => {
  const data = validate("qwen", QwenCredsSchema, parsed[0], files[0]);
  return tokens(data.access_token, data.refresh_token);
};
