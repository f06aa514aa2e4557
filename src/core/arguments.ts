import * as z from "zod";
import { lazy } from "./lazy.js";
import { InvalidArgumentError } from "./errors.js";

type ErrorClass = new (message: string) => Error;

/**
 * Checks a public entry point's arguments before any work (a JavaScript caller, or `undefined`
 * where a string belongs, would otherwise meet a TypeError deep inside). The error names the
 * function, the argument and what was expected, and says what was given only by its type: an
 * argument may be a secret.
 */
export function validateArguments(fn: string, args: Record<string, readonly [z.ZodType, unknown]>, ErrorType: ErrorClass = InvalidArgumentError): void {
  for (const [name, [schema, value]] of Object.entries(args)) {
    if (ACCEPTED_AT_SIGHT.get(schema)?.(value)) continue;
    const parsed = schema.safeParse(value);
    if (parsed.success) continue;
    const issue = parsed.error.issues[0]!;
    const where = [name, ...issue.path.map(String)].join(".");
    const expected = "expected" in issue && typeof issue.expected === "string" ? `${/^[aeiou]/.test(issue.expected) ? "an" : "a"} ${issue.expected}` : "a valid value";
    throw new ErrorType(`${fn}: the argument ${where} must be ${expected} (got ${typeOfValue(valueAt(value, issue.path))})`);
  }
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const key of path) at = at !== null && typeof at === "object" ? (at as Record<PropertyKey, unknown>)[key] : undefined;
  return at;
}

function typeOfValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : typeof value;
}

/** A provider's name where an entry point takes one first (the roster checks that it exists). */
export const ProviderArgument = lazy(() => z.string());

/** The options object most entry points take: the credential set, spelled one way; the rest is each call's own. */
export const SetOptions = lazy(() => z.looseObject({ credentialSet: z.string().optional() }));

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(value));

/**
 * The usual argument of the two schemas every credential read checks, recognised without building
 * them (`token`, `run` and the git helper would otherwise load zod for this alone). Each accepts a
 * subset of what its schema accepts; anything else still goes to the schema, for its exact error.
 */
const ACCEPTED_AT_SIGHT = new Map<unknown, (value: unknown) => boolean>([
  [ProviderArgument, (value) => typeof value === "string"],
  [SetOptions, (value) => isPlainObject(value) && (value.credentialSet === undefined || typeof value.credentialSet === "string")],
]);
