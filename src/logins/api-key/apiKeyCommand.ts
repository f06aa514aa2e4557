import type { ApiKeyConfig } from "../../roster/schema.js";

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `~/x` → `"$HOME"/x`, quoted, so the container user's home is used. */
function shellPath(path: string): string {
  return path.startsWith("~/") ? `"$HOME"/${shellQuote(path.slice(2))}` : shellQuote(path);
}

/**
 * argv for entering an API key INSIDE a container (roster `api_key.config`): asks with echo off,
 * then hands the key to the vendor's own login command on its stdin (`login_command`, e.g.
 * `codex login --with-api-key`), or writes it into the tool's config file (0600) through the
 * roster's printf template. The key travels over the terminal and a pipe from a shell builtin
 * only, never through argv or the environment.
 */
export function apiKeyCommand(cfg: ApiKeyConfig): string[] {
  if (!cfg.config) throw new Error(`api_key.config is not set for ${cfg.env_var}`);
  const { config_path, printf_template, login_command, tool_name } = cfg.config;
  const ask = [
    cfg.key_url ? `printf '%s\\n' ${shellQuote(`Get a key at ${cfg.key_url}`)}` : ":",
    `printf '%s: ' ${shellQuote(cfg.env_var)}`,
    "stty -echo 2>/dev/null; IFS= read -r key; status=$?; stty echo 2>/dev/null; echo",
    `[ "$status" -eq 0 ] && [ -n "$key" ] || { echo 'no key entered' >&2; exit 1; }`,
  ];
  const store = login_command
    ? [
        // printf is a builtin: the key is never an argument of a process.
        `printf '%s\\n' "$key" | ${login_command.map(shellQuote).join(" ")} || { echo ${shellQuote(`${tool_name} did not accept the key`)} >&2; exit 1; }`,
      ]
    : [
        `target=${shellPath(config_path!)}`,
        'mkdir -p "$(dirname "$target")"',
        `umask 077; printf ${shellQuote(printf_template!)} "$key" > "$target"`,
      ];
  return ["sh", "-c", [...ask, ...store, `echo ${shellQuote(`${tool_name} API key saved`)}`].join("\n")];
}
