import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  extract,
  phantomMarker,
  readCaptureFiles,
  readExpiry,
  type CapturedFile,
  type OAuthPayload,
} from "../src/logins/container/capture/index.js";
import { writeSharedMount } from "../src/logins/container/sharedMount.js";
import { CaptureError } from "../src/core/errors.js";
import { loadRoster } from "../src/roster/load.js";
import type { CaptureSpec } from "../src/roster/schema.js";

const roster = loadRoster();
const spec = (name: string): CaptureSpec => roster.get(name).oauth!.capture;
const oauthOf = (name: string) => roster.get(name).oauth!;

const canary = (prefix = "") => `${prefix}CANARY-${randomBytes(12).toString("hex")}`;

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "authctl-capture-"));
  dirs.push(d);
  return d;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
function jwt(claims: Record<string, unknown>): string {
  return `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url(claims)}.${canary("sig")}`;
}

/** Runs fn and returns the CaptureError it throws (fails the test otherwise). */
function captureError(fn: () => unknown): CaptureError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CaptureError);
    return err as CaptureError;
  }
  throw new Error("expected a CaptureError");
}
async function captureErrorAsync(p: Promise<unknown>): Promise<CaptureError> {
  const err = await p.then(
    () => {
      throw new Error("expected a CaptureError");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CaptureError);
  return err as CaptureError;
}

const file = (path: string, text: string, format: CapturedFile["format"] = "json"): CapturedFile => ({ path, format, text });
/** What `vendor`'s extractor makes of one capture file, read under the roster's capture spec. */
const extractOne = (vendor: string, path: string, text: string, format: CapturedFile["format"] = "json") => extract(vendor, spec(vendor), [file(path, text, format)]);

describe("extractors", () => {
  it("claude: token, expiry from expiresAt (ms), masked preview", () => {
    const access = canary("sk-ant-oat01-");
    const refresh = canary("sk-ant-ort01-");
    const expiresAt = Date.UTC(2030, 0, 2, 3, 4, 5);
    const text = JSON.stringify({
      claudeAiOauth: { accessToken: access, refreshToken: refresh, expiresAt, scopes: ["user:inference"], subscriptionType: "pro", rateLimitTier: "x" },
    });
    const out = extractOne("claude", ".credentials.json", text);
    expect(out.payload).toMatchObject({ type: "oauth", provider: "claude", accessToken: access, refreshToken: refresh });
    expect(out.payload.files).toEqual({ ".credentials.json": text });
    expect(out.expiresAt?.getTime()).toBe(expiresAt);
    expect(out.preview).toBe(`sk-…${access.slice(-4)}`);
    expect(out.preview).not.toContain(access);
    expect(out.preview).not.toContain("CANARY");
  });

  it("codex: token, expiry from the access token's JWT exp, account from id_token", () => {
    const exp = Math.floor(Date.UTC(2031, 5, 1) / 1000);
    const access = jwt({ exp, sub: "user-1", marker: canary() });
    const refresh = canary("rt_");
    const text = JSON.stringify({
      OPENAI_API_KEY: null,
      tokens: { id_token: jwt({ email: "dev@example.com" }), access_token: access, refresh_token: refresh, account_id: "acct-1" },
      last_refresh: "2025-01-01T00:00:00Z",
    });
    const out = extractOne("codex", "auth.json", text);
    expect(out.payload.accessToken).toBe(access);
    expect(out.payload.refreshToken).toBe(refresh);
    expect(out.account).toBe("dev@example.com");
    expect(out.expiresAt?.getTime()).toBe(exp * 1000);
    expect(out.preview).not.toContain(access);
    expect(out.preview.length).toBeLessThan(12);
  });

  it("codex: an api-key-only auth.json gives the key and no expiry", () => {
    const key = canary("sk-proj-");
    const out = extractOne("codex", "auth.json", JSON.stringify({ OPENAI_API_KEY: key }));
    expect(out.payload.accessToken).toBe(key);
    expect(out.expiresAt).toBeNull();
  });

  it("codex: a malformed JWT access token gives a null expiry, not a crash", () => {
    const access = canary("not.a-jwt.");
    const out = extractOne("codex", "auth.json", JSON.stringify({ tokens: { access_token: access } }));
    expect(out.payload.accessToken).toBe(access);
    expect(out.expiresAt).toBeNull();
    const garbage = `aaa.${Buffer.from("{not json").toString("base64url")}.bbb`;
    expect(extractOne("codex", "auth.json", JSON.stringify({ tokens: { access_token: garbage } })).expiresAt).toBeNull();
  });

  it("codex: an access token that is not a string is a shape error", () => {
    const err = captureError(() => extractOne("codex", "auth.json", JSON.stringify({ tokens: { access_token: 12345 } })));
    expect(err.message).toMatch(/unrecognised codex credential file auth\.json: tokens\.access_token/);
  });

  it("gemini: token and expiry_date (ms)", () => {
    const access = canary("ya29.");
    const expiry = Date.UTC(2029, 11, 31);
    const text = JSON.stringify({ access_token: access, refresh_token: canary("1//"), scope: "openid", token_type: "Bearer", id_token: "x", expiry_date: expiry });
    const out = extractOne("gemini", "oauth_creds.json", text);
    expect(out.payload.accessToken).toBe(access);
    expect(out.expiresAt?.getTime()).toBe(expiry);
    expect(out.preview).not.toContain(access);
  });

  it("gh: legacy hosts.yml with oauth_token and user", () => {
    const token = canary("gho_");
    const text = `github.com:\n    oauth_token: ${token}\n    user: octocat\n    git_protocol: https\n`;
    const out = extractOne("gh", "hosts.yml", text, "yaml");
    expect(out.payload.accessToken).toBe(token);
    expect(out.account).toBe("octocat");
    expect(out.payload.account).toBe("octocat");
    expect(out.expiresAt).toBeNull();
    expect(out.preview).toBe(`gho…${token.slice(-4)}`);
  });

  it("gh: newer multi-account layout, token under users.<active user>; github.com preferred", () => {
    const token = canary("gho_");
    const other = canary("gho_");
    const text = [
      "ghe.example.com:",
      "    user: someone",
      `    oauth_token: ${other}`,
      "github.com:",
      "    git_protocol: https",
      "    users:",
      "        octocat:",
      `            oauth_token: ${token}`,
      "        alt:",
      `            oauth_token: ${other}`,
      "    user: octocat",
      "",
    ].join("\n");
    const out = extractOne("gh", "hosts.yml", text, "yaml");
    expect(out.payload.accessToken).toBe(token);
    expect(out.account).toBe("octocat");
  });

  it("gh: first host when github.com is absent", () => {
    const token = canary("gho_");
    const out = extractOne("gh", "hosts.yml", `ghe.example.com:\n  oauth_token: ${token}\n  user: me\n`, "yaml");
    expect(out.payload.accessToken).toBe(token);
    expect(out.account).toBe("me");
  });

  it("gh: a host with no token (keyring storage) is refused with a hint", () => {
    const err = captureError(() => extractOne("gh", "hosts.yml", "github.com:\n  user: octocat\n  users:\n    octocat: {}\n", "yaml"));
    expect(err.message).toMatch(/unrecognised gh credential file hosts\.yml: .*insecure-storage.*nothing was stored/);
  });

  it("gh: two hosts in one set (github.com and an Enterprise host) both survive, both shown in the preview", () => {
    const dotcom = canary("gho_");
    const enterprise = canary("gho_");
    const text = [
      "ghe.corp.example:",
      "    user: worker",
      "    users:",
      "        worker:",
      `            oauth_token: ${enterprise}`,
      "github.com:",
      "    user: octocat",
      `    oauth_token: ${dotcom}`,
      "",
    ].join("\n");
    const out = extractOne("gh", "hosts.yml", text, "yaml");
    expect(out.payload.accessToken).toBe(dotcom);
    expect(out.payload.files["hosts.yml"]).toBe(text);
    expect(out.payload.accounts).toEqual([
      { name: "github.com", user: "octocat", accessToken: dotcom },
      { name: "ghe.corp.example", user: "worker", accessToken: enterprise },
    ]);
    expect(out.preview).toBe(`github.com gho…${dotcom.slice(-4)}, ghe.corp.example gho…${enterprise.slice(-4)}`);
  });

  it("a vendor-controlled host name with control characters never reaches the preview", () => {
    const text = `"evil\u001b[2J.example":\n  oauth_token: ${canary("gho_")}\ngithub.com:\n  oauth_token: ${canary("gho_")}\n`;
    const out = extractOne("gh", "hosts.yml", text, "yaml");
    expect(out.preview).not.toContain("\u001b");
    expect(out.preview).toMatch(/, \? gho…/);
  });

  it("glab: the token at hosts.<host>.token (config.yml), gitlab.com first, every host kept", () => {
    const token = canary("glpat-");
    const selfHosted = canary("glpat-");
    const refresh = canary();
    const text = [
      "git_protocol: ssh",
      "hosts:",
      "    gitlab.example.org:",
      `        token: ${selfHosted}`,
      "    gitlab.com:",
      `        token: ${token}`,
      "        is_oauth2: \"true\"",
      `        oauth2_refresh_token: ${refresh}`,
      "        user: tanuki",
      "",
    ].join("\n");
    const out = extractOne("glab", "config.yml", text, "yaml");
    expect(out.payload).toMatchObject({ accessToken: token, refreshToken: refresh, account: "tanuki" });
    expect(out.payload.accounts?.map((a) => a.name)).toEqual(["gitlab.com", "gitlab.example.org"]);
    const keyring = captureError(() => extractOne("glab", "config.yml", "hosts:\n  gitlab.com:\n    user: tanuki\n", "yaml"));
    expect(keyring.message).toMatch(/unrecognised glab credential file config\.yml: no host has a token.*nothing was stored/);
  });

  it("opencode: one account per provider in auth.json, OAuth or API key", () => {
    const access = canary("sk-ant-oat01-");
    const key = canary("sk-or-");
    const text = JSON.stringify({ anthropic: { type: "oauth", access, refresh: canary(), expires: 1 }, openrouter: { type: "api", key } });
    const out = extractOne("opencode", "auth.json", text);
    expect(out.payload.accessToken).toBe(access);
    expect(out.payload.accounts?.map((a) => [a.name, a.accessToken])).toEqual([
      ["anthropic", access],
      ["openrouter", key],
    ]);
    const bad = captureError(() => extractOne("opencode", "auth.json", JSON.stringify({ x: { type: "magic", key } })));
    expect(bad.message).toContain("unrecognised opencode credential file auth.json");
    expect(bad.message).not.toContain(key);
  });

  it("qwen: oauth_creds.json with expiry_date in ms", () => {
    const access = canary();
    const expiry = Date.UTC(2031, 5, 1);
    const text = JSON.stringify({ access_token: access, refresh_token: canary(), token_type: "Bearer", expiry_date: expiry, resource_url: "portal.qwen.ai" });
    const out = extractOne("qwen", "oauth_creds.json", text);
    expect(out.payload.accessToken).toBe(access);
    expect(out.expiresAt?.getTime()).toBe(expiry);
  });

  const badShapes: Array<[string, string, (c: string) => string, CapturedFile["format"]]> = [
    ["claude", ".credentials.json", (c) => JSON.stringify({ oauth: { accessToken: c } }), "json"],
    ["claude", ".credentials.json", (c) => JSON.stringify({ claudeAiOauth: { accessToken: "", refreshToken: c } }), "json"],
    ["claude", ".credentials.json", (c) => JSON.stringify({ claudeAiOauth: { accessToken: c, expiresAt: c } }), "json"],
    ["claude", ".credentials.json", (c) => `{"claudeAiOauth": {"accessToken": "${c}"`, "json"],
    ["codex", "auth.json", (c) => JSON.stringify({ token: c }), "json"],
    ["codex", "auth.json", (c) => `not json ${c}`, "json"],
    ["gemini", "oauth_creds.json", (c) => JSON.stringify({ accessToken: c }), "json"],
    ["gemini", "oauth_creds.json", (c) => JSON.stringify([c]), "json"],
    ["gh", "hosts.yml", (c) => `github.com: [${c}`, "yaml"],
    ["gh", "hosts.yml", (c) => `- ${c}\n`, "yaml"],
    ["gh", "hosts.yml", (c) => `github.com:\n  oauth_token: [${c}]\n`, "yaml"],
    ["glab", "config.yml", (c) => `hosts: [${c}]\n`, "yaml"],
    ["opencode", "auth.json", (c) => JSON.stringify({ p: { type: "oauth", refresh: c } }), "json"],
    ["qwen", "oauth_creds.json", (c) => JSON.stringify({ token: c }), "json"],
  ];
  it.each(badShapes)("%s: bad shape / unparseable %s is refused without echoing values", (vendor, path, make, format) => {
    const c = canary();
    const err = captureError(() => extractOne(vendor, path, make(c), format));
    expect(err.message).toContain(`unrecognised ${vendor} credential file ${path}: `);
    expect(err.message).toContain("nothing was stored");
    expect(err.message).not.toContain("CANARY");
    expect(String(err.stack)).not.toContain(c);
  });

  it("unknown extractor names it and the known ones", () => {
    const err = captureError(() => extract("x", { extractor: "nope", files: [{ path: "a.json", format: "json" }] }, [file("a.json", "{}")]));
    expect(err.message).toContain('"nope"');
    expect(err.message).toContain("claude, codex, gemini, gh");
  });

  it("a capture file the roster lists but the caller did not pass is a missing-file error", () => {
    const err = captureError(() => extract("claude", spec("claude"), []));
    expect(err.message).toBe("the login ended without a credential file: .credentials.json was not written (did the login finish?)");
  });

  it("readExpiry handles every unit and bad values", () => {
    expect(readExpiry({ a: { b: 1_700_000_000 } }, { field: "a.b", unit: "epoch_s" })?.getTime()).toBe(1_700_000_000_000);
    expect(readExpiry({ t: "2030-01-01T00:00:00Z" }, { field: "t", unit: "iso" })?.toISOString()).toBe("2030-01-01T00:00:00.000Z");
    expect(readExpiry({ t: "yesterday-ish" }, { field: "t", unit: "iso" })).toBeNull();
    expect(readExpiry({ t: 5 }, { field: "missing.path", unit: "epoch_ms" })).toBeNull();
    expect(readExpiry({ t: "abc" }, { field: "t", unit: "epoch_ms" })).toBeNull();
    expect(readExpiry({ t: jwt({ exp: "soon" }) }, { field: "t", unit: "jwt_exp" })).toBeNull();
    expect(readExpiry({ t: 123 }, { field: "t", unit: "jwt_exp" })).toBeNull();
    expect(readExpiry({}, undefined)).toBeNull();
  });

  it("env format parses KEY=VALUE lines", async () => {
    const { parseEnv } = await import("../src/logins/container/capture/extractors.js");
    expect(parseEnv("# c\nexport A=1\nB='two words'\n\nC=\"x=y\"\n")).toEqual({ A: "1", B: "two words", C: "x=y" });
  });

  it("phantomMarker holds provider and set, no secret", () => {
    const marker = JSON.parse(phantomMarker("claude", "work")) as { authctl: Record<string, string> };
    expect(marker.authctl.provider).toBe("claude");
    expect(marker.authctl.credentialSet).toBe("work");
    expect(marker.authctl.note).toContain("authctl creds show work:claude");
  });
});

describe("readCaptureFiles", () => {
  const files = (path: string) => [{ path, format: "json" as const }];

  it("reads a normal file verbatim", async () => {
    const dir = tempDir();
    const text = JSON.stringify({ claudeAiOauth: { accessToken: canary() } });
    writeFileSync(join(dir, ".credentials.json"), text);
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "b.json"), "{}");
    const out = await readCaptureFiles(dir, [...files(".credentials.json"), { path: "sub/b.json", format: "json" }]);
    expect(out).toEqual([
      { path: ".credentials.json", format: "json", text },
      { path: "sub/b.json", format: "json", text: "{}" },
    ]);
  });

  it("refuses a symlink to a host file and never shows its contents", async () => {
    const dir = tempDir();
    const host = tempDir();
    const secret = canary("host-secret-");
    writeFileSync(join(host, "id_rsa"), secret);
    symlinkSync(join(host, "id_rsa"), join(dir, ".credentials.json"));
    const err = await captureErrorAsync(readCaptureFiles(dir, files(".credentials.json")));
    expect(err.message).toBe("capture file .credentials.json is a symlink; refused");
    expect(String(err.stack)).not.toContain(secret);
  });

  it("refuses a symlinked parent directory", async () => {
    const dir = tempDir();
    const host = tempDir();
    const secret = canary("host-secret-");
    writeFileSync(join(host, "auth.json"), secret);
    symlinkSync(host, join(dir, "sub"));
    const err = await captureErrorAsync(readCaptureFiles(dir, files("sub/auth.json")));
    expect(err.message).toContain("sub/auth.json");
    expect(err.message).toContain("parent directory sub is a symlink; refused");
    expect(String(err.stack)).not.toContain(secret);
  });

  it("refuses a FIFO without blocking", { timeout: 5_000 }, async () => {
    const dir = tempDir();
    execFileSync("mkfifo", [join(dir, "auth.json")]);
    const err = await captureErrorAsync(readCaptureFiles(dir, files("auth.json")));
    expect(err.message).toBe("capture file auth.json is not a regular file (fifo); refused");
  });

  it("refuses a directory where the file should be", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "auth.json"));
    const err = await captureErrorAsync(readCaptureFiles(dir, files("auth.json")));
    expect(err.message).toContain("is not a regular file (directory)");
  });

  it("refuses a 2 MiB file", async () => {
    const dir = tempDir();
    const c = canary();
    writeFileSync(join(dir, "auth.json"), c + "x".repeat(2 * 1024 * 1024));
    const err = await captureErrorAsync(readCaptureFiles(dir, files("auth.json")));
    expect(err.message).toMatch(/^capture file auth\.json is \d+ bytes, over the 1 MiB limit; refused$/);
    expect(err.message).not.toContain("CANARY");
  });

  it("accepts a file of exactly 1 MiB", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "auth.json"), "x".repeat(1024 * 1024));
    const [out] = await readCaptureFiles(dir, files("auth.json"));
    expect(out!.text.length).toBe(1024 * 1024);
  });

  it("a missing file means the login did not finish", async () => {
    const dir = tempDir();
    const err = await captureErrorAsync(readCaptureFiles(dir, files("auth.json")));
    expect(err.message).toBe("the login ended without a credential file: auth.json was not written (did the login finish?)");
    const nested = await captureErrorAsync(readCaptureFiles(dir, files("a/b.json")));
    expect(nested.message).toContain("a/b.json was not written");
  });

  it("re-checks paths the roster should already have refused", async () => {
    const dir = tempDir();
    for (const bad of ["../x.json", "/etc/passwd", "a/../../x", "a//b", "./a"]) {
      const err = await captureErrorAsync(readCaptureFiles(dir, files(bad)));
      expect(err.message).toMatch(/refused/);
    }
  });
});

describe("writeSharedMount", () => {
  function claudePayload(): { payload: OAuthPayload; token: string; text: string } {
    const token = canary("sk-ant-oat01-");
    const text = JSON.stringify({ claudeAiOauth: { accessToken: token, refreshToken: canary(), expiresAt: 1 } });
    const { payload } = extractOne("claude", ".credentials.json", text);
    return { payload, token, text };
  }
  const mode = (p: string) => statSync(p).mode & 0o777;

  it("writes a phantom marker by default, with no secret", async () => {
    const mounts = join(tempDir(), "mounts");
    const { payload, token } = claudePayload();
    const dir = await writeSharedMount(mounts, oauthOf("claude"), payload, { exposeToken: false, credentialSet: "default" });
    expect(dir).toBe(join(mounts, "default", "_claude-config"));
    expect(mode(dir)).toBe(0o700);
    const marker = readFileSync(join(dir, "authctl-phantom.json"), "utf8");
    expect(marker).not.toContain("CANARY");
    expect(marker).not.toContain(token);
    expect(JSON.parse(marker)).toMatchObject({ authctl: { provider: "claude", credentialSet: "default" } });
    expect(existsSync(join(dir, ".credentials.json"))).toBe(false);
    // post_capture_state still applied
    expect(JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8"))).toEqual({ hasCompletedOnboarding: true });
    expect(mode(join(dir, ".claude.json"))).toBe(0o600);
  });

  it("exposeToken writes the real files 0600; switching back to phantom removes them", async () => {
    const mounts = join(tempDir(), "mounts");
    const { payload, text } = claudePayload();
    const dir = await writeSharedMount(mounts, oauthOf("claude"), payload, { exposeToken: true, credentialSet: "default" });
    const cred = join(dir, ".credentials.json");
    expect(readFileSync(cred, "utf8")).toBe(text);
    expect(mode(cred)).toBe(0o600);
    expect(existsSync(join(dir, "authctl-phantom.json"))).toBe(false);

    await writeSharedMount(mounts, oauthOf("claude"), payload, { exposeToken: false, credentialSet: "default" });
    expect(existsSync(cred)).toBe(false);
    expect(existsSync(join(dir, "authctl-phantom.json"))).toBe(true);
  });

  it("never writes through a symlink planted at the target", async () => {
    const mounts = join(tempDir(), "mounts");
    const host = tempDir();
    const hostFile = join(host, "victim");
    writeFileSync(hostFile, "untouched");
    mkdirSync(join(mounts, "default", "_claude-config"), { recursive: true });
    symlinkSync(hostFile, join(mounts, "default", "_claude-config", ".credentials.json"));
    symlinkSync(hostFile, join(mounts, "default", "_claude-config", ".claude.json"));
    const { payload, text } = claudePayload();
    const dir = await writeSharedMount(mounts, oauthOf("claude"), payload, { exposeToken: true, credentialSet: "default" });
    expect(readFileSync(hostFile, "utf8")).toBe("untouched");
    expect(readFileSync(join(dir, ".credentials.json"), "utf8")).toBe(text);
    expect(JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8"))).toEqual({ hasCompletedOnboarding: true });
  });

  it("refuses a shared mount dir that is a symlink", async () => {
    const mounts = join(tempDir(), "mounts");
    mkdirSync(join(mounts, "default"), { recursive: true });
    symlinkSync(tempDir(), join(mounts, "default", "_claude-config"));
    const { payload } = claudePayload();
    const err = await captureErrorAsync(writeSharedMount(mounts, oauthOf("claude"), payload, { exposeToken: true, credentialSet: "default" }));
    expect(err.message).toContain("is a symlink; refused");
  });

  it("post_capture_state deep-merges into an existing JSON file, keeping other keys", async () => {
    const mounts = join(tempDir(), "mounts");
    const dir = join(mounts, "ci", "_gemini-config");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "settings.json"),
      JSON.stringify({ theme: "dark", security: { auth: { selectedType: "gemini-api-key", other: 1 }, folderTrust: true } }),
    );
    const access = canary("ya29.");
    const { payload } = extractOne("gemini", "oauth_creds.json", JSON.stringify({ access_token: access }));
    await writeSharedMount(mounts, oauthOf("gemini"), payload, { exposeToken: false, credentialSet: "ci" });
    const settings = JSON.parse(readFileSync(join(dir, "settings.json"), "utf8")) as unknown;
    expect(settings).toEqual({ theme: "dark", security: { auth: { selectedType: "oauth-personal", other: 1 }, folderTrust: true } });
    expect(mode(join(dir, "settings.json"))).toBe(0o600);
    expect(readFileSync(join(dir, "authctl-phantom.json"), "utf8")).not.toContain(access);
  });

  it("post_capture_state replaces an invalid existing JSON file", async () => {
    const mounts = join(tempDir(), "mounts");
    const dir = join(mounts, "default", "_claude-config");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, ".claude.json"), "{ not json");
    await writeSharedMount(mounts, oauthOf("claude"), claudePayload().payload, { exposeToken: false, credentialSet: "default" });
    expect(JSON.parse(readFileSync(join(dir, ".claude.json"), "utf8"))).toEqual({ hasCompletedOnboarding: true });
  });
});
