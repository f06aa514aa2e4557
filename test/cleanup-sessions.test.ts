import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Authctl } from "../src/context.js";
import { UsageError } from "../src/core/errors.js";
import { forgetSession, loadSession, saveSession, savedSessions } from "../src/logins/container/savedSessions.js";
import { forgetHostSession, hostSessionExists, loadHostSession, saveHostSession } from "../src/logins/hostSessions.js";
import { baseEnv } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";

/** Container and host sessions: one store, each kind checked against its own schema when read. */
describe("saved sessions", () => {
  const t = tempHome("authctl-cleanup-sessions-");
  const context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: t.home }, home: t.home });
  afterAll(() => t.cleanup());
  const verifier = canary("verifier");
  const hostState = {
    method: "oauth2_pkce" as const,
    provider: "github-oauth",
    credentialSet: "default",
    title: "GitHub login",
    clientId: "client-1",
    scopes: ["repo"],
    prompt: { kind: "auth_url" as const, authUrl: "https://example.test/authorize", redirectUri: "http://127.0.0.1:1234/callback" },
    pkce: { verifier, state: "s1", redirectUri: "http://127.0.0.1:1234/callback" },
  };
  const containerState = {
    provider: "claude",
    projectId: null,
    credentialSet: "default",
    exposeToken: false,
    containerName: "host-auth-claude-abcdef",
    argv: ["podman", "start", "-ai", "host-auth-claude-abcdef"],
    banner: "Claude login (host-wide)",
    title: "Claude login",
    authDir: "/tmp/authctl-login-x",
    mountsDir: join(t.home, "mounts"),
  };

  it("a host session round-trips, and a file of another shape is damaged, not half-trusted", () => {
    const id = saveHostSession(context, hostState);
    expect(hostSessionExists(context, id)).toBe(true);
    expect(loadHostSession(context, id)).toEqual(hostState);

    const file = join(t.home, "sessions", `${id}.host.json`);
    const saved = JSON.parse(readFileSync(file, "utf8")) as { state: Record<string, unknown> };
    // A PKCE verifier that is no string, and a prompt of no known kind: what capture would then send is not what prepare made.
    writeFileSync(file, JSON.stringify({ ...saved, state: { ...saved.state, pkce: { ...hostState.pkce, verifier: 42 }, prompt: { kind: "script", run: "x" } } }));
    let error: unknown;
    try {
      loadHostSession(context, id);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(String((error as Error).message)).toMatch(/is damaged; run `authctl session cleanup/);
    forgetHostSession(context, id);
    expect(hostSessionExists(context, id)).toBe(false);
  });

  it("each kind lists only its own files, beside each other in one dir", () => {
    const hostId = saveHostSession(context, hostState);
    const container = saveSession(context, containerState);
    expect(loadSession(context, container.id).state).toEqual(containerState);
    expect(savedSessions(context).map((e) => e.id)).toEqual([container.id]);
    expect(hostSessionExists(context, container.id)).toBe(false);
    expect(hostSessionExists(context, hostId)).toBe(true);
    forgetSession(context, container.id);
    forgetHostSession(context, hostId);
  });
});
