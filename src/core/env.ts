/** An environment as authctl reads it: a context's `env`, or `process.env` at the entry points. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The set variables of `env` that `keep` names, for a child process that must not inherit the
 * rest (authctl's passphrase and tokens above all): an allow-list, never a deny-list.
 */
/** authctl's own secrets in an environment: what no child process it starts may inherit. */
export const AUTHCTL_SECRET_ENV: readonly string[] = ["AUTHCTL_PASSPHRASE", "AUTHCTL_PASSPHRASE_COMMAND", "AUTHCTL_TOKEN"];

export function pickEnv(env: Env, keep: readonly string[] | ((name: string) => boolean)): Record<string, string> {
  const wanted = typeof keep === "function" ? keep : (name: string) => keep.includes(name);
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && wanted(e[0])));
}
