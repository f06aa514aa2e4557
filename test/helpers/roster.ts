import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { BUILTIN_ROSTER_DIR } from "../../src/roster/load.js";

/**
 * Overrides a shipped provider in `$AUTHCTL_HOME/agents/` so its login runs the fake vendor CLI
 * of the local test image (same mount, same capture files as the real one).
 */
export function useFakeVendor(home: string, provider: "claude" | "codex" | "gemini" | "gh", variant = "ok"): void {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, `${provider}.yaml`), "utf8"));
  entry.oauth.command = ["fake-vendor", provider, variant];
  mkdirSync(join(home, "agents"), { recursive: true });
  writeFileSync(join(home, "agents", `${provider}.yaml`), stringify(entry));
}
