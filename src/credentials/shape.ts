/**
 * Structural checks for payloads read back from the store. A payload is checked against its
 * type's zod schema when it is written (recordCredential); reading it back checks the same rules
 * again with these few plain functions, so a command that only reads never builds the schemas
 * nor runs zod per row (`status` over 1,000 rows did both). test/credentials/read-check.test.ts
 * holds every type's read check to its schema, field by field.
 */
export type Path = (string | number)[];
export interface ShapeIssue {
  path: Path;
  message: string;
}
export type Check = (value: unknown, path: Path) => ShapeIssue | undefined;

const issue = (path: Path, message: string): ShapeIssue => ({ path, message });
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

export const string =
  (options: { nonEmpty?: boolean } = {}): Check =>
  (value, path) =>
    typeof value !== "string" ? issue(path, "must be a string") : options.nonEmpty && value.length === 0 ? issue(path, "must not be empty") : undefined;

export const number =
  (options: { int?: boolean; positive?: boolean } = {}): Check =>
  (value, path) => {
    if (typeof value !== "number" || !Number.isFinite(value)) return issue(path, "must be a number");
    if (options.int && !Number.isSafeInteger(value)) return issue(path, "must be an integer");
    if (options.positive && value <= 0) return issue(path, "must be positive");
    return undefined;
  };

export const oneOf =
  (values: readonly (string | number | boolean)[]): Check =>
  (value, path) =>
    values.includes(value as string) ? undefined : issue(path, `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`);

export const optional =
  (check: Check): Check =>
  (value, path) =>
    value === undefined ? undefined : check(value, path);

export const nullish =
  (check: Check): Check =>
  (value, path) =>
    value === undefined || value === null ? undefined : check(value, path);

export const array =
  (check: Check, options: { nonEmpty?: boolean } = {}): Check =>
  (value, path) => {
    if (!Array.isArray(value)) return issue(path, "must be a list");
    if (options.nonEmpty && value.length === 0) return issue(path, "must not be empty");
    for (let i = 0; i < value.length; i++) {
      const found = check(value[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  };

/** String keys (all a JSON object has) to values of one shape. */
export const record =
  (check: Check): Check =>
  (value, path) => {
    if (!isRecord(value)) return issue(path, "must be an object");
    for (const key of Object.keys(value)) {
      const found = check(value[key], [...path, key]);
      if (found) return found;
    }
    return undefined;
  };

/** Named fields, checked in order; other fields are allowed (kept as they were stored). */
export const object =
  (fields: Record<string, Check>): Check =>
  (value, path) => {
    if (!isRecord(value)) return issue(path, "must be an object");
    for (const key of Object.keys(fields)) {
      const found = fields[key]!(value[key], [...path, key]);
      if (found) return found;
    }
    return undefined;
  };
