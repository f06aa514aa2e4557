import * as z from "zod";
import { maskSecret } from "../core/mask.js";
import { array, number, object, oneOf, optional, string } from "./shape.js";
import { lazySchema, type CredentialType } from "./type.js";

/**
 * A `command` row: the argv of a command that prints the secret (not secret itself). With
 * `cache_ttl_s` the last output is kept in `cached`, inside the sealed payload. Once resolved (the
 * command run), `key` holds what it printed.
 */
const schema = lazySchema(() =>
  z.looseObject({
    type: z.literal("command"),
    command: z.array(z.string().min(1)).min(1),
    timeout_ms: z.number().int().positive(),
    /** Asked to cache: how long an output may be reused. Absent: the command runs on every read. */
    cache_ttl_s: z.number().int().positive().optional(),
    /** "roster": the row only caches the roster's `source` and never stands in for it. */
    origin: z.literal("roster").optional(),
    cached: z.object({ key: z.string().min(1), until: z.number() }).optional(),
    /** Set only on a resolved credential, never stored: the command's output. */
    key: z.string().min(1).optional(),
  }),
);
export type CommandSourcePayload = z.infer<ReturnType<typeof schema>>;

/** A run of 16+ token characters with a letter and a digit: what keys look like, unlike words, flags and paths. */
const SECRET_LIKE = /[A-Za-z0-9_\-.+=]{16,}/g;
const maskSecretLike = (arg: string) => arg.replace(SECRET_LIKE, (run) => (/[A-Za-z]/.test(run) && /\d/.test(run) ? maskSecret(run) : run));

/**
 * How a command is shown in errors and listings, cut short: its argv, where a token can sit
 * (`curl -H "Authorization: Bearer …"`), so whatever looks like one is masked.
 */
export function describeCommand(command: readonly string[]): string {
  const text = command.map(maskSecretLike).join(" ");
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** A command row's preview: the argv it runs, and until when its output is cached. */
export function commandPreview(command: readonly string[], cachedUntil?: number): string {
  const argv = `$(${describeCommand(command).slice(0, 40)})`;
  return cachedUntil === undefined ? argv : `${argv} cached until ${new Date(cachedUntil).toISOString().replace(/\.\d+Z$/, "Z")}`;
}

export const commandSource: CredentialType<CommandSourcePayload> = {
  type: "command",
  mode: "api_key",
  schema,
  shape: object({
    type: oneOf(["command"]),
    command: array(string({ nonEmpty: true }), { nonEmpty: true }),
    timeout_ms: number({ int: true, positive: true }),
    cache_ttl_s: optional(number({ int: true, positive: true })),
    origin: optional(oneOf(["roster"])),
    cached: optional(object({ key: string({ nonEmpty: true }), until: number() })),
    key: optional(string({ nonEmpty: true })),
  }),
  kind: () => "command",
  // A stored row's cache is not its secret: whether it may still be used is decided where the command runs.
  secret: (p) => p.key,
  expiresAt: () => null,
  preview: (p) => (p.key ? maskSecret(p.key) : commandPreview(p.command, p.cached?.until)),
};
