import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { captureLapsedGitLogin, useHostLoginFixture } from "../helpers/host-roster.js";
import { runInProcess } from "../helpers/memory-io.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("git-credential hands git a host login's refreshed token, not the lapsed one", () => {
  const host = useHostLoginFixture("gitref");

  it("an expired OAuth 2.0 access token is refreshed (once) and its new expiry sent as password_expiry_utc", async () => {
    const server = await captureLapsedGitLogin(host);
    const r = await runInProcess(host.env(), ["git-credential", "get"], "protocol=https\nhost=git.fakehub.example\n\n");
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const answer = Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(server.grants.filter((g) => g.grant_type === "refresh_token").length).toBe(1);
    // Compared by hash: a failure prints no token.
    expect(sha(answer.password ?? "")).toBe(sha(server.issued.filter((t) => t.includes("at")).at(-1)!));
    expect(answer.username).toBe("oauth2");
    expect(Number(answer.password_expiry_utc)).toBeGreaterThan(Date.now() / 1000 + 3000);
  }, 60_000);
});
