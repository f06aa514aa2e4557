import * as z from "zod";
import { accountFromIdToken, type Extractor, nonEmpty, optString, tokens, validate } from "../extractorKit.js";

export const CodexAuthSchema = z
  .looseObject({
    tokens: z
      .looseObject({
        access_token: nonEmpty,
        refresh_token: optString,
        id_token: optString,
        account_id: optString,
      })
      .nullish(),
    OPENAI_API_KEY: z.string().nullish(),
    last_refresh: optString,
  })
  .superRefine((v, ctx) => {
    if (!v.tokens && !(typeof v.OPENAI_API_KEY === "string" && v.OPENAI_API_KEY.length > 0)) {
      ctx.addIssue({ code: "custom", path: [], message: "has neither tokens.access_token nor OPENAI_API_KEY" });
    }
  });

export const codex: Extractor = (parsed, files) => {
  const data = validate("codex", CodexAuthSchema, parsed[0], files[0]);
  if (data.tokens) {
    const t = data.tokens;
    return tokens(t.access_token, t.refresh_token, accountFromIdToken(t.id_token) ?? t.account_id);
  }
  return tokens(data.OPENAI_API_KEY as string);
};
