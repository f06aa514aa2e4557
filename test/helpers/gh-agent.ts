import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { BUILTIN_ROSTER_DIR } from "../../src/roster/load.js";
import { CredentialStore } from "../../src/store/store.js";
import { baseEnv } from "./context.js";
import { REPO } from "./env.js";
import { startProxyServe } from "./proxy-serve.js";

/**
 * A gh login (container shape, `ghToken` in its hosts.yml) in set `foo` of `home`, with the shipped
 * gh roster entry as a user file changed by `editRoster` (pointing its upstreams at the test's
 * servers), and the built `authctl proxy serve` listening on `socket`.
 */
export async function serveGhLogin(home: string, ghToken: string, socket: string, editRoster: (entry: { proxy: Record<string, { base_url: string }> }) => void) {
  mkdirSync(join(home, "agents"), { recursive: true });
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "gh.yaml"), "utf8"));
  editRoster(entry);
  writeFileSync(join(home, "agents", "gh.yaml"), stringify(entry));
  const store = CredentialStore.open({ home, env: baseEnv() });
  const hostsYml = `github.com:\n    oauth_token: ${ghToken}\n    user: dev\n`;
  store.put("foo", "gh", "oauth", { type: "oauth", provider: "gh", files: { "hosts.yml": hostsYml }, accessToken: ghToken, account: "dev" }, { preview: "gho_…" });
  store.close();
  mkdirSync(join(home, "run"), { recursive: true, mode: 0o700 });
  return startProxyServe(home, ["--socket", socket]);
}
