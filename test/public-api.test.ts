import { describe, expect, it } from "vitest";

describe("package root (dist/index.js)", () => {
  it("exports the documented API", async () => {
    const api = await import("../dist/index.js");
    for (const name of [
      "storeApiKey",
      "getCredentials",
      "CredentialStore",
      "loadRoster",
      "Authenticator",
      "authenticate",
      "prepareOAuthSession",
      "AuthSession",
      "apiKeyCommand",
      "MissingCredentialsError",
      "NoEngineError",
      "detectEngine",
      "terminalUi",
    ]) {
      expect(api, name).toHaveProperty(name);
    }
  });
});
