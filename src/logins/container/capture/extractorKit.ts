import * as z from "zod";
import { maskSecret } from "../../../core/mask.js";
import type { CapturedAccount, ContainerLoginPayload as OAuthPayload } from "../../../credentials/containerLogin.js";
import { decodeJwtClaims } from "./formats.js";
import type { CapturedFile } from "./readFiles.js";
import { unrecognised } from "./unrecognised.js";

// What the vendor extractors share: the result types, the account list and its preview.
export { unrecognised, validate } from "./unrecognised.js";

/** The stored payload of a container login: the vendor files verbatim plus the tokens. */
export type { CapturedAccount, ContainerLoginPayload as OAuthPayload } from "../../../credentials/containerLogin.js";

export interface Extracted {
  payload: OAuthPayload;
  /** Masked access token (the rule: maskSecret in src/core/mask.ts). */
  preview: string;
  expiresAt: Date | null;
  account?: string;
}

export interface ExtractedTokens {
  accessToken: string;
  refreshToken?: string;
  account?: string;
  accounts?: CapturedAccount[];
}

/** Validates the parsed capture files (same order as the roster lists them) and pulls the tokens out. */
export type Extractor = (parsed: unknown[], files: CapturedFile[]) => ExtractedTokens;

/** Host or provider names as shown in a preview: vendor-controlled, so only plain names pass. */
const SHOWN_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

/**
 * The masked token, or with several accounts each one's name and masked token
 * (`github.com gho_…wxyz, ghe.corp.example gho_…abcd`), so `creds list` shows them all.
 */
export function previewOf(result: ExtractedTokens): string {
  if (!result.accounts || result.accounts.length < 2) return maskSecret(result.accessToken);
  return result.accounts.map((a) => `${SHOWN_NAME.test(a.name) ? a.name : "?"} ${maskSecret(a.accessToken)}`).join(", ");
}

/** The file's accounts, the preferred one first (e.g. github.com); at least one or the file is refused. */
export function withAccounts(vendor: string, path: string, accounts: CapturedAccount[], preferred: string, parsed: unknown, problem: string): ExtractedTokens {
  if (accounts.length === 0) throw unrecognised(vendor, path, problem, parsed);
  const ordered = [...accounts.filter((a) => a.name === preferred), ...accounts.filter((a) => a.name !== preferred)];
  const first = ordered[0]!;
  const out = tokens(first.accessToken, first.refreshToken, first.user);
  if (ordered.length > 1) out.accounts = ordered;
  return out;
}

export function accountFromIdToken(idToken: string | null | undefined): string | undefined {
  const claims = decodeJwtClaims(idToken);
  const email = claims?.email;
  return typeof email === "string" && email.length > 0 ? email : undefined;
}

export function tokens(accessToken: string, refreshToken?: string | null, account?: string | null): ExtractedTokens {
  const out: ExtractedTokens = { accessToken };
  if (refreshToken) out.refreshToken = refreshToken;
  if (account) out.account = account;
  return out;
}

export const nonEmpty = z.string().min(1, "must be a non-empty string");
export const optString = z.string().nullish();
