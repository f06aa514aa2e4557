import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

/** Writes a user roster file `$AUTHCTL_HOME/agents/<name>.yaml`: how tests point host logins at a local fake server. */
export function writeUserRoster(home: string, entry: { name: string } & Record<string, unknown>): void {
  mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, "agents", `${entry.name}.yaml`), stringify(entry));
}

export function msgraphAt(metadata: Record<string, string>) {
  return {
    name: "msgraph",
    label: "Microsoft Graph",
    kind: "service",
    modes: ["oauth"],
    host_flow: { flow: "msal_device_code", client_id: "client-1", tenant_id: "tenant1", scopes: ["User.Read"], authority_host: "login.fake.test", authority_metadata: metadata },
  };
}

export function googleAt(base: string) {
  return {
    name: "google",
    label: "Google",
    kind: "service",
    modes: ["oauth"],
    host_flow: { flow: "google_pkce", client_id: "gclient-1", client_secret_env: "FAKE_GOOGLE_SECRET", scopes: ["openid", "email"], auth_endpoint: `${base}/auth`, token_endpoint: `${base}/token` },
  };
}

export function oauth2At(base: string, flow: "oauth2_device" | "oauth2_pkce", name = "fakehub") {
  const endpoints =
    flow === "oauth2_device" ? { device_authorization_endpoint: `${base}/device/code` } : { authorization_endpoint: `${base}/auth` };
  return {
    name,
    label: "Fake Hub",
    kind: "service",
    modes: ["oauth"],
    host_flow: { flow, client_id: "hub-client", scopes: ["repo"], token_endpoint: `${base}/oauth/token`, ...endpoints },
  };
}
