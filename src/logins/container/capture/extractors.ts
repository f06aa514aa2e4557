import { CaptureError } from "../../../core/errors.js";
import type { CaptureSpec } from "../../../roster/schema.js";
import { previewOf, type Extracted, type Extractor, type OAuthPayload } from "./extractorKit.js";
import { parseCaptured, readExpiry } from "./formats.js";
import type { CapturedFile } from "./readFiles.js";
import { unrecognised } from "./unrecognised.js";
import { claude } from "./vendors/claude.js";
import { codex } from "./vendors/codex.js";
import { gemini } from "./vendors/gemini.js";
import { gh } from "./vendors/gh.js";
import { glab } from "./vendors/glab.js";
import { opencode } from "./vendors/opencode.js";
import { qwen } from "./vendors/qwen.js";

// One file per vendor under vendors/ (its schema and how its tokens are found); this file names them for the roster.
export type { CapturedAccount, Extracted, ExtractedTokens, Extractor, OAuthPayload } from "./extractorKit.js";
export { decodeJwtClaims, getPath, parseCaptured, parseEnv, readExpiry } from "./formats.js";
export { ClaudeCredentialsSchema } from "./vendors/claude.js";
export { CodexAuthSchema } from "./vendors/codex.js";
export { GeminiCredsSchema } from "./vendors/gemini.js";
export { GhHostsSchema } from "./vendors/gh.js";
export { GlabConfigSchema } from "./vendors/glab.js";
export { OpencodeAuthSchema } from "./vendors/opencode.js";
export { QwenCredsSchema } from "./vendors/qwen.js";

/** Named extractors the roster's `oauth.capture.extractor` refers to. */
export const EXTRACTORS: Record<string, Extractor> = { claude, codex, gemini, gh, glab, opencode, qwen };

/**
 * Validates a login's captured files with the roster's extractor and builds the stored payload.
 * Throws `CaptureError` (naming the vendor and the file, never a value) when the files do not
 * have the vendor's shape, so junk is never stored.
 */
export function extract(provider: string, spec: CaptureSpec, files: CapturedFile[]): Extracted {
  const name = spec.extractor;
  const extractor = Object.prototype.hasOwnProperty.call(EXTRACTORS, name) ? EXTRACTORS[name] : undefined;
  if (!extractor) {
    throw new CaptureError(
      `unknown capture extractor "${name}" for ${provider}; known extractors: ${Object.keys(EXTRACTORS).sort().join(", ")}`,
    );
  }

  // The roster's order, whatever order the caller passed them in.
  const ordered = spec.files.map((f) => {
    const file = files.find((c) => c.path === f.path);
    if (!file) {
      throw new CaptureError(`the login ended without a credential file: ${f.path} was not written (did the login finish?)`);
    }
    return file;
  });
  const parsed = ordered.map((file) => parseCaptured(name, file));
  const result = extractor(parsed, ordered);
  if (typeof result.accessToken !== "string" || result.accessToken.length === 0) {
    throw unrecognised(name, ordered[0]!.path, "no access token found", parsed[0]);
  }

  const payload: OAuthPayload = {
    type: "oauth",
    provider,
    files: Object.fromEntries(ordered.map((f) => [f.path, f.text])),
    accessToken: result.accessToken,
  };
  if (result.refreshToken) payload.refreshToken = result.refreshToken;
  if (result.account) payload.account = result.account;
  if (result.accounts) payload.accounts = result.accounts;

  const extracted: Extracted = {
    payload,
    preview: previewOf(result),
    expiresAt: readExpiry(parsed[0], spec.expiry),
  };
  if (result.account) extracted.account = result.account;
  return extracted;
}

/** Text of the marker left in a shared mount instead of the real credential: holds no secret. */
export function phantomMarker(provider: string, credentialSet: string): string {
  return (
    JSON.stringify(
      {
        authctl: {
          provider,
          credentialSet,
          note: `This credential lives in authctl's store; run \`authctl creds show ${credentialSet}:${provider}\``,
        },
      },
      null,
      2,
    ) + "\n"
  );
}
