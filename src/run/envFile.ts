import { UsageError } from "../core/errors.js";
import { errnoCode, readRegularFileSync } from "../core/regularFile.js";

const MAX_ENV_FILE_BYTES = 256 * 1024;
const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/;

/**
 * A `.env` file for `run --env-file`: `NAME=value` lines (`export ` allowed), `#` comments, values
 * optionally in single or double quotes. A line of another shape is refused by its number, never
 * its text (it may hold a secret).
 */
export function readEnvFile(file: string): Record<string, string> {
  const refuse = (problem: string) => new UsageError(`--env-file ${file}: ${problem}`);
  let text: string | null;
  try {
    text = readRegularFileSync(file, { limit: MAX_ENV_FILE_BYTES, followSymlinks: true, refuse });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw refuse(`could not be read (${errnoCode(error) ?? String(error)})`);
  }
  if (text === null) throw refuse("does not exist");
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (/^\s*(#|$)/.test(line)) return;
    const m = LINE.exec(line);
    if (!m) throw refuse(`line ${i + 1} is not NAME=value`);
    const raw = m[2]!;
    const quoted = /^(['"])(.*)\1$/.exec(raw);
    env[m[1]!] = quoted ? quoted[2]! : raw.replace(/\s+#.*$/, "");
  });
  return env;
}
