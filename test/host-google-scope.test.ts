import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import type { GooglePayload } from "../src/logins/google/pkce.js";
import { REPO } from "./helpers/env.js";
import { useHostLoginFixture } from "./helpers/host-roster.js";

type Entry = { name: string; host_flow: Record<string, unknown> } & Record<string, unknown>;
const GMAIL = "https://www.googleapis.com/auth/gmail.readonly";

describe("Google host login asks for `openid email` unless told more (issue 21 item 10)", () => {
  const host = useHostLoginFixture("gs");
  const shipped = parse(readFileSync(join(REPO, "resources/agents/google.yaml"), "utf8")) as Entry;
  /** The shipped entry as it is, scopes included; only the endpoints point at the local fake. */
  const start = () =>
    host.start((fake) => ({ ...shipped, host_flow: { ...shipped.host_flow, client_id: "gclient-1", auth_endpoint: `${fake.base}/auth`, token_endpoint: `${fake.base}/token` } }));

  async function login(scopes?: string[]) {
    using context = host.context();
    await using session = await prepareHostLogin("google", { context, ...(scopes ? { scopes } : {}) });
    const authUrl = new URL((session.prompt as { authUrl: string }).authUrl);
    const captured = session.capture();
    await fetch(authUrl);
    await captured;
    return { asked: authUrl.searchParams.get("scope"), stored: context.store().get<GooglePayload>("default", "google")!.payload.scopes };
  }

  it("the shipped roster's default: only `openid email` is asked for and stored", async () => {
    await start();
    expect(await login()).toEqual({ asked: "openid email", stored: ["openid", "email"] });
  });

  it("more scopes are asked for only when given (`--scopes`, or host_flow.scopes in a user roster)", async () => {
    await start();
    expect(await login(["openid", "email", GMAIL])).toEqual({ asked: `openid email ${GMAIL}`, stored: ["openid", "email", GMAIL] });
  });
});
