import * as z from "zod";
import { type Extractor, nonEmpty, optString, tokens, validate } from "../extractorKit.js";

export const ClaudeCredentialsSchema = z.looseObject({
  claudeAiOauth: z.looseObject({
    accessToken: nonEmpty,
    refreshToken: optString,
    expiresAt: z.number().nullish(),
    scopes: z.array(z.string()).nullish(),
    subscriptionType: optString,
  }),
});

export const claude: Extractor = (parsed, files) => {
  const data = validate("claude", ClaudeCredentialsSchema, parsed[0], files[0]);
  return tokens(data.claudeAiOauth.accessToken, data.claudeAiOauth.refreshToken);
};
