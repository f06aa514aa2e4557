import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RosterError } from "../src/core/errors.js";
import { parseProviderFile } from "../src/roster/load.js";
import { REPO } from "./helpers/env.js";
import { staticallyReachable } from "./helpers/imports.js";

const file = "/x/agents/hub.yaml";
const entry = (hostFlow: string) => `name: hub\nlabel: Hub\nkind: service\nmodes: [oauth]\nhost_flow:\n${hostFlow}`;

describe("roster host_flow (src/roster/hostFlowSchema.ts)", () => {
  it("accepts each flow, with defaults filled in", () => {
    const msal = parseProviderFile(file, entry("  flow: msal_device_code\n  scopes: [User.Read]\n"));
    expect(msal.host_flow).toEqual({ flow: "msal_device_code", tenant_id: "organizations", scopes: ["User.Read"], authority_host: "login.microsoftonline.com" });
    const device = parseProviderFile(file, entry("  flow: oauth2_device\n  device_authorization_endpoint: https://h/d\n  token_endpoint: https://h/t\n"));
    expect(device.host_flow).toMatchObject({ token_auth_method: "none", scopes: [] });
    expect(parseProviderFile(file, entry("  flow: google_pkce\n  scopes: [email]\n")).host_flow).toMatchObject({ token_endpoint: "https://oauth2.googleapis.com/token" });
  });

  it.each([
    ["an unknown flow", "  flow: saml\n", /host_flow\.flow/],
    ["a non-http endpoint", "  flow: oauth2_pkce\n  authorization_endpoint: ftp://h/a\n  token_endpoint: https://h/t\n", /host_flow\.authorization_endpoint: must be an http\(s\) URL/],
    ["an authority host with a scheme", "  flow: msal_device_code\n  scopes: [a]\n  authority_host: https://login.microsoftonline.us\n", /host_flow\.authority_host: must be a host name/],
    ["no scopes for Microsoft", "  flow: msal_device_code\n  scopes: []\n", /host_flow\.scopes: must list at least one scope/],
    ["an unknown field (a secret value where a variable name goes)", "  flow: oauth2_device\n  client_secret: s3cret\n  device_authorization_endpoint: https://h/d\n  token_endpoint: https://h/t\n", /host_flow/],
  ])("refuses %s, naming the file and field", (_, body, message) => {
    expect(() => parseProviderFile(file, entry(body))).toThrow(RosterError);
    expect(() => parseProviderFile(file, entry(body))).toThrow(message);
  });
});

describe("host login libraries load only when a host login runs", () => {
  it("neither the package entry nor the CLI statically reaches MSAL, google-auth-library or openid-client", () => {
    for (const entry of ["src/index.ts", "src/cli/program.ts"]) {
      const { packages } = staticallyReachable(join(REPO, entry));
      for (const heavy of ["@azure/msal-node", "google-auth-library", "openid-client"]) expect(packages, `${entry} → ${heavy}`).not.toContain(heavy);
    }
  });
});
