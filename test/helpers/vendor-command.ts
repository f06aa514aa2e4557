import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { BUILTIN_ROSTER_DIR } from "../../src/roster/load.js";

export type ContainerProvider = "claude" | "codex" | "gemini" | "gh";

/** The shipped provider's mount and first capture file: where a login's credential lands in the container. */
export function captureTarget(provider: ContainerProvider): { mount: string; file: string; format: string } {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, `${provider}.yaml`), "utf8"));
  const first = entry.oauth.capture.files[0];
  return { mount: entry.oauth.container_mount, file: first.path, format: first.format ?? "json" };
}

/**
 * Like `useFakeVendor`, but the provider's login runs an arbitrary argv in the test image
 * (busybox: `sh -c …`), e.g. to plant a symlink to a host path that the fake vendor has no
 * variant for. Same mount and capture files as the shipped provider.
 */
export function useContainerCommand(home: string, provider: ContainerProvider, command: string[]): void {
  const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, `${provider}.yaml`), "utf8"));
  entry.oauth.command = command;
  mkdirSync(join(home, "agents"), { recursive: true });
  writeFileSync(join(home, "agents", `${provider}.yaml`), stringify(entry));
}

/** A credential file in the vendor's real format whose token embeds `code` (what fake-vendor writes). */
export function vendorFile(provider: ContainerProvider, code: string): string {
  const exp = Date.now() + 3_600_000;
  switch (provider) {
    case "claude":
      return JSON.stringify({ claudeAiOauth: { accessToken: `sk-ant-oat01-${code}`, refreshToken: `sk-ant-ort01-${code}-r`, expiresAt: exp, scopes: ["user:inference"], subscriptionType: "pro" } }) + "\n";
    case "codex":
      return JSON.stringify({ OPENAI_API_KEY: null, tokens: { id_token: "a.b.c", access_token: `at_${code}`, refresh_token: `rt_${code}`, account_id: "acct" }, last_refresh: new Date().toISOString() }) + "\n";
    case "gemini":
      return JSON.stringify({ access_token: `ya29.${code}`, refresh_token: `1//${code}-r`, scope: "s", token_type: "Bearer", id_token: "x.y.z", expiry_date: exp }) + "\n";
    case "gh":
      return `github.com:\n    users:\n        octo:\n            oauth_token: gho_${code}\n    oauth_token: gho_${code}\n    git_protocol: https\n    user: octo\n`;
  }
}
