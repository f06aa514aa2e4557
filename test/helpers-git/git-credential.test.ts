import { afterAll, describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { UsageError } from "../../src/core/errors.js";
import { recordCredential } from "../../src/credentials/index.js";
import { formatCredentialResponse, parseCredentialRequest } from "../../src/helpers/gitCredential.js";
import { canary, childEnv, tempHome } from "../helpers/env.js";
import { runInProcess } from "../helpers/memory-io.js";

const t = tempHome();
afterAll(() => t.cleanup());
const token = canary("ghp_");
const printed: string[] = [];
async function run(args: string[], input?: string) {
  const r = await runInProcess(childEnv(t.home), args, input);
  printed.push(r.stderr);
  return r;
}
const get = (request: string, ...flags: string[]) => run(["git-credential", ...flags, "get"], request);

describe("git's credential protocol", () => {
  it("reads key=value lines up to the blank line; lists (key[]) are left out; the last value wins", () => {
    const request = parseCredentialRequest("protocol=https\nhost=a.example\ncapability[]=authtype\nhost=github.com\npath=org/repo.git\n\nhost=after.example\n");
    expect(Object.fromEntries(request)).toEqual({ protocol: "https", host: "github.com", path: "org/repo.git" });
  });

  it("refuses a line that is not key=value", () => {
    expect(() => parseCredentialRequest("protocol=https\nnonsense\n")).toThrow(UsageError);
  });

  it("never writes a value holding a newline (it would add an attribute of its own), and never shows it", () => {
    const injected = `${canary()}\nhost=evil.example`;
    expect(() => formatCredentialResponse([["password", injected]])).toThrow(/the password holds a newline or NUL/);
    try {
      formatCredentialResponse([["password", injected]]);
    } catch (error) {
      expect(String(error)).not.toContain(injected.split("\n")[0]);
    }
  });
});

describe("authctl git-credential", () => {
  it("get answers a roster host over https with the user name and the token", async () => {
    expect((await run(["key", "gh", "--stdin"], token)).exitCode).toBe(0);
    const r = await get("protocol=https\nhost=github.com\n\n");
    expect(r.stdout).toBe(`username=x-access-token\npassword=${token}\n`);
    expect(r.exitCode).toBe(0);
  });

  it("get says nothing (exit 0) for a host no provider declares, so git asks its next helper", async () => {
    const r = await get("protocol=https\nhost=example.org\n\n");
    expect([r.stdout, r.stderr, r.exitCode]).toEqual(["", "", 0]);
  });

  it("never sends a token over plain http to another machine, even to the provider's own host", async () => {
    for (const flags of [[], ["--provider", "gh"], ["--provider", "gh", "--host", "git.example.com"]]) {
      const host = flags.includes("--host") ? "git.example.com" : "github.com";
      const r = await get(`protocol=http\nhost=${host}\n\n`, ...flags);
      expect([r.stdout, r.exitCode]).toEqual(["", 0]);
    }
    const loopback = await get("protocol=http\nhost=127.0.0.1:8080\n\n", "--provider", "gh", "--host", "127.0.0.1:8080");
    expect(loopback.stdout).toContain(`password=${token}`);
  });

  it("--provider answers only its roster hosts and the --host it was given, not every URL", async () => {
    const r = await get("protocol=https\nhost=attacker.example\n\n", "--provider", "gh");
    expect(r.stdout).toBe("");
    const given = await get("protocol=https\nhost=git.corp.example:8443\n\n", "--provider", "gh", "--host", "git.corp.example:8443");
    expect(given.stdout).toContain(`password=${token}`);
  });

  it("sends password_expiry_utc when the credential's expiry is known", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000);
    const context = new Authctl({ env: childEnv(t.home), home: t.home });
    recordCredential(context, { credentialSet: "expiring", provider: "gh", payload: { type: "api_key", key: token }, expiresAt });
    context.store().close();
    const r = await get("protocol=https\nhost=github.com\n\n", "--set", "expiring");
    expect(r.stdout).toContain(`password_expiry_utc=${Math.floor(expiresAt.getTime() / 1000)}\n`);
  });

  describe("a gh login holding several hosts (github.com and an Enterprise host)", () => {
    const dotcom = canary("gho_");
    const enterprise = canary("gho_");
    const only = canary("gho_");
    const login = (set: string, accounts: { name: string; accessToken: string }[]) => {
      const context = new Authctl({ env: childEnv(t.home), home: t.home });
      const payload = { type: "oauth", provider: "gh", files: { "hosts.yml": "(the vendor file)\n" }, accessToken: accounts[0]!.accessToken, ...(accounts.length > 1 ? { accounts } : {}) };
      recordCredential(context, { credentialSet: set, provider: "gh", payload });
      context.store().close();
    };

    it("each host gets its own account's token, never the other's", async () => {
      // The login's first account is the Enterprise one: a host-blind answer would send its token to github.com.
      login("multi", [{ name: "ghe.corp.example", accessToken: enterprise }, { name: "github.com", accessToken: dotcom }]);
      const ghCom = await get("protocol=https\nhost=github.com\n\n", "--set", "multi");
      expect(ghCom.stdout).toBe(`username=x-access-token\npassword=${dotcom}\n`);
      const ghe = await get("protocol=https\nhost=ghe.corp.example\n\n", "--set", "multi");
      expect(ghe.stdout).toBe(`username=x-access-token\npassword=${enterprise}\n`);
      expect((await get("protocol=https\nhost=other.example\n\n", "--set", "multi")).stdout).toBe("");
      expect((await get("protocol=http\nhost=ghe.corp.example\n\n", "--set", "multi")).stdout).toBe("");
    });

    it("a roster host the login holds no account for is missing, with the login command", async () => {
      login("enterprise-only", [{ name: "ghe.corp.example", accessToken: only }, { name: "ghe2.corp.example", accessToken: enterprise }]);
      const r = await get("protocol=https\nhost=github.com\n\n", "--set", "enterprise-only");
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("the enterprise-only:gh login holds no account for github.com (it holds ghe.corp.example, ghe2.corp.example); log in to github.com: authctl auth gh --set enterprise-only");
      expect(r.exitCode).toBe(3);
    });

    afterAll(() => {
      for (const secret of [dotcom, enterprise, only]) expect(printed.join("\n")).not.toContain(secret);
    });
  });

  it("store and erase read the request and change nothing", async () => {
    for (const op of ["store", "erase"]) {
      const r = await run(["git-credential", op], `protocol=https\nhost=github.com\nusername=x\npassword=${token}\n\n`);
      expect([r.stdout, r.stderr, r.exitCode]).toEqual(["", "", 0]);
    }
    expect((await get("protocol=https\nhost=github.com\n\n")).stdout).toContain(`password=${token}`);
  });

  it("an unknown operation, or --host without --provider, is a usage error", async () => {
    expect((await run(["git-credential", "list"], "")).exitCode).toBe(2);
    expect((await get("protocol=https\nhost=x.example\n\n", "--host", "x.example")).exitCode).toBe(2);
  });

  it("a missing credential for a declared host is exit 3 with the fix, on stderr git shows", async () => {
    const r = await get("protocol=https\nhost=gitlab.com\n\n");
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("run: authctl key glab");
    expect(r.exitCode).toBe(3);
  });
});

afterAll(() => expect(printed.join("\n")).not.toContain(token));
