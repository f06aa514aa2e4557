import type { ApiKeyConfig } from "../../roster/schema.js";

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `~/x` → `"$HOME"/x`, quoted, so the container user's home is used. */
function shellPath(path: string): string {
  return path.startsWith("~/") ? `"$HOME"/${shellQuote(path.slice(2))}` : shellQuote(path);
}

/**
 * argv for entering an API key INSIDE a container (roster `api_key.config`): asks with echo off,
 * writes the key into the tool's config file (0600) through the roster's printf template.
 * The key travels over the terminal only, never through argv or the environment.
 */
export function apiKeyCommand(cfg: ApiKeyConfig): string[] {
  if (!cfg.config) throw new Error(`api_key.config is not set for ${cfg.env_var}`);
  const { config_path, printf_template, tool_name } = cfg.config;
  const script = [
    cfg.key_url ? `printf '%s\\n' ${shellQuote(`Get a key at ${cfg.key_url}`)}` : ":",
    `printf '%s: ' ${shellQuote(cfg.env_var)}`,
    "stty -echo 2>/dev/null; IFS= read -r key; status=$?; stty echo 2>/dev/null; echo",
    `[ "$status" -eq 0 ] && [ -n "$key" ] || { echo 'no key entered' >&2; exit 1; }`,
    `target=${shellPath(config_path)}`,
    'mkdir -p "$(dirname "$target")"',
    `umask 077; printf ${shellQuote(printf_template)} "$key" > "$target"`,
    `echo ${shellQuote(`${tool_name} API key saved`)}`,
  ].join("\n");
  return ["sh", "-c", script];
}
