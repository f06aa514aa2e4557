import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../src/access/adminAuth.js";
import { ServiceClient } from "../src/access/client.js";
import { Authctl } from "../src/context.js";
import { storeApiKey } from "../src/logins/api-key/apiKey.js";
import { proxyAuditEvent } from "../src/serve/proxyMount.js";
import { AuditLog, auditPath, readAudit, type AuditEvent } from "../src/store/audit.js";
import { CredentialStore } from "../src/store/store.js";
import type { AuditVerdict } from "../src/store/auditVerify.js";
import { parse, stringify } from "yaml";
import { BUILTIN_ROSTER_DIR } from "../src/roster/load.js";
import { authctl, canary, REPO, tempHome, testEnv } from "./helpers/env.js";
import { fakeUpstream } from "./helpers/fake-upstream.js";
import { startProxyServe } from "./helpers/proxy-serve.js";
import { runInProcess } from "./helpers/memory-io.js";
import { listeningService } from "./helpers/service.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const envOf = (home: string, extra: Record<string, string> = {}) => ({ ...testEnv(), AUTHCTL_HOME: home, NO_COLOR: "1", ...extra });
const sha = (line: string) => createHash("sha256").update(line).digest("hex");

/**
 * A home whose log holds 10 lifecycle lines and a checkpoint (one store's life), 5 lines and a
 * checkpoint from a second store, then 2 proxied requests of session "agent-1" as the daemon writes
 * them and the checkpoint of its clean stop: 20 lines, checkpoints at lines 11, 17 and 20.
 */
function homeWithLog(extraEnv: Record<string, string> = {}) {
  const t = tempHome("authctl-audit-chain-");
  cleanups.push(t.cleanup);
  const env = envOf(t.home, extraEnv);
  const key = canary("sk-");
  const first = CredentialStore.open({ home: t.home, env });
  first.put("work", "anthropic", "api_key", { key }, { preview: "sk-…" });
  for (let i = 0; i < 10; i++) first.audit("stored", "work", `p${i}`, "api_key");
  first.close();
  const second = CredentialStore.open({ home: t.home, env });
  for (let i = 10; i < 15; i++) second.audit("refreshed", "work", `p${i}`, "api_key");
  second.close();
  const third = CredentialStore.open({ home: t.home, env });
  const daemon = new AuditLog(auditPath(t.home), Date.now, { groupWrites: true, keeper: () => third.auditKeeper(), ...(extraEnv.AUTHCTL_AUDIT_MAX_BYTES ? { maxBytes: Number(extraEnv.AUTHCTL_AUDIT_MAX_BYTES) } : {}) });
  daemon.record(proxyAuditEvent({ sessionId: "agent-1", credentialSet: "work", provider: "gh", method: "GET", path: "/user", status: 200, bytesIn: 0, bytesOut: 42, durationMs: 3 }));
  daemon.record(proxyAuditEvent({ sessionId: "agent-1", credentialSet: "work", provider: "gh", method: "POST", path: "/user/keys", status: 403, bytesIn: 10, bytesOut: 0, durationMs: 1, refused: "deny-durable-credentials" }));
  daemon.close();
  third.close();
  return { home: t.home, env, key };
}

const logLines = (home: string, file = "audit.jsonl") => readFileSync(join(home, file), "utf8").split("\n").slice(0, -1);
const writeLines = (home: string, lines: string[], file = "audit.jsonl") => writeFileSync(join(home, file), lines.map((l) => l + "\n").join(""));

/** A copy of the home (store, key file and log) to tamper with. */
function copyOf(home: string): string {
  const t = tempHome("authctl-audit-tamper-");
  cleanups.push(t.cleanup);
  cpSync(home, t.home, { recursive: true });
  return t.home;
}

/** A copy of the home whose log file `file` has been rewritten by `edit`. */
function tampered(home: string, edit: (lines: string[]) => string[], file = "audit.jsonl"): string {
  const copy = copyOf(home);
  writeLines(copy, edit(logLines(copy, file)), file);
  return copy;
}

async function verify(home: string, env: Record<string, string>) {
  const json = await runInProcess({ ...env, AUTHCTL_HOME: home }, ["audit", "verify", "--json"]);
  const text = await runInProcess({ ...env, AUTHCTL_HOME: home }, ["audit", "verify"]);
  expect(json.stdout, json.stderr).toMatch(/^\{/);
  expect(text.exitCode).toBe(json.exitCode);
  return { exitCode: json.exitCode, verdict: JSON.parse(json.stdout) as AuditVerdict, text: text.stdout + text.stderr };
}

async function expectTampered(home: string, env: Record<string, string>, kind: string, line: number, file = "audit.jsonl") {
  const { exitCode, verdict, text } = await verify(home, env);
  expect(verdict.problem, JSON.stringify(verdict)).toMatchObject({ kind, file: join(home, file), line });
  expect(exitCode).toBe(1);
  // One line, naming file:line and the kind.
  expect(text.trim().split("\n").filter((l) => !l.includes("warning:"))).toEqual([expect.stringContaining(`audit log tampered (${kind}): ${join(home, file)}:${line}: `)]);
  return verdict;
}

describe("the audit trail is hash-chained and signed", () => {
  it("a clean log verifies: every line chains to the one before, checkpoints at each clean stop, no secret", async () => {
    const { home, env, key } = homeWithLog();
    const lines = logLines(home);
    expect(lines).toHaveLength(20);
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line) as { seq: number; prev: string };
      expect(parsed.seq).toBe(i + 1);
      expect(parsed.prev).toBe(i === 0 ? "0".repeat(64) : sha(lines[i - 1]!));
    });
    expect(lines.flatMap((l, i) => ((JSON.parse(l) as { type?: string }).type === "checkpoint" ? [i + 1] : []))).toEqual([11, 17, 20]);
    const { exitCode, verdict, text } = await verify(home, env);
    expect(verdict).toMatchObject({ ok: true, lines: 20, checkpoints: 3, warnings: [] });
    expect(exitCode).toBe(0);
    expect(text).toContain("audit log intact: 20 lines in 1 file, 3 checkpoints");
    expect(readFileSync(auditPath(home), "utf8") + text).not.toContain(key);
    // Readers see the events, never the checkpoints.
    expect(readAudit(auditPath(home))).toHaveLength(17);
  });

  it("names an edited line (one field of a middle line)", async () => {
    const { home, env } = homeWithLog();
    const copy = tampered(home, (lines) => lines.map((l, i) => (i === 4 ? l.replace('"op":"stored"', '"op":"removed"') : l)));
    const verdict = await expectTampered(copy, env, "edited", 5);
    expect(verdict.problem!.message).toContain("hash no longer matches");
  });

  it("names an inserted line: a copy of another line, and a forged line that links to the one before", async () => {
    const { home, env } = homeWithLog();
    await expectTampered(tampered(home, (lines) => [...lines.slice(0, 6), lines[2]!, ...lines.slice(6)]), env, "inserted", 7);
    const forged = (lines: string[]) => JSON.stringify({ seq: 7, prev: sha(lines[5]!), time: new Date().toISOString(), actor: "local", op: "removed", target: "work:p0", allowed: true });
    await expectTampered(tampered(home, (lines) => [...lines.slice(0, 6), forged(lines), ...lines.slice(6)]), env, "inserted", 7);
  });

  it("names reordered lines (two swapped)", async () => {
    const { home, env } = homeWithLog();
    await expectTampered(tampered(home, (lines) => [...lines.slice(0, 3), lines[4]!, lines[3]!, ...lines.slice(5)]), env, "reordered", 4);
  });

  it("names a deleted line", async () => {
    const { home, env } = homeWithLog();
    const verdict = await expectTampered(tampered(home, (lines) => [...lines.slice(0, 7), ...lines.slice(8)]), env, "deleted", 8);
    expect(verdict.problem!.message).toContain("1 line (seq 8) missing");
  });

  it("names a checkpoint whose mac is forged", async () => {
    const { home, env } = homeWithLog();
    const forge = (line: string) => line.replace((JSON.parse(line) as { mac: string }).mac, sha("forged"));
    await expectTampered(tampered(home, (lines) => lines.map((l, i) => (i === 10 ? forge(l) : l))), env, "checkpoint", 11);
  });

  it("an edit whose links are all recomputed (the hashes are unkeyed) is caught by the next checkpoint's mac", async () => {
    const { home, env } = homeWithLog();
    const relinked = (lines: string[]) => {
      const out = lines.map((l, i) => (i === 4 ? l.replace('"op":"stored"', '"op":"removed"') : l));
      for (let i = 5; i < out.length; i++) out[i] = JSON.stringify({ ...(JSON.parse(out[i]!) as object), prev: sha(out[i - 1]!) });
      return out;
    };
    const verdict = await expectTampered(tampered(home, relinked), env, "checkpoint", 11);
    expect(verdict.problem!.message).toContain("not signed with this store's key");
  });

  it("a tail cut back past a checkpoint is an error; lines after the last checkpoint of a writer that did not stop are a warning", async () => {
    const { home, env } = homeWithLog();
    const verdict = await expectTampered(tampered(home, (lines) => lines.slice(0, 16)), env, "truncated", 16);
    expect(verdict.problem!.message).toContain("the store's newest checkpoint is seq 20");

    // A writer that never closed (a crash, or a daemon still running): chained, unsigned, not tampering.
    const store = CredentialStore.open({ home, env });
    for (let i = 0; i < 3; i++) store.audit("stored", "work", `late${i}`, "api_key");
    const { exitCode, verdict: open, text } = await verify(home, env);
    store.close();
    expect(open.ok).toBe(true);
    expect(exitCode).toBe(0);
    expect(text).toContain(`warning: the log ends 3 lines after the last checkpoint (${auditPath(home)}:20)`);
  });

  it("lines written before the chain are reported as unchained history, not as tampering", async () => {
    const t = tempHome("authctl-audit-history-");
    cleanups.push(t.cleanup);
    const env = envOf(t.home);
    mkdirSync(t.home, { recursive: true, mode: 0o700 });
    const old = [0, 1, 2].map((i) => JSON.stringify({ time: new Date().toISOString(), actor: "local", op: "stored", target: `old:p${i}`, allowed: true }));
    writeLines(t.home, old);
    const store = CredentialStore.open({ home: t.home, env });
    store.put("work", "anthropic", "api_key", { key: canary() }, { preview: "x" });
    store.audit("stored", "work", "anthropic", "api_key");
    store.close();
    const { exitCode, verdict, text } = await verify(t.home, env);
    expect(verdict).toMatchObject({ ok: true, unchainedBefore: { file: auditPath(t.home), line: 4 } });
    expect(exitCode).toBe(0);
    expect(text).toContain(`unchained history before ${auditPath(t.home)}:4`);
    expect(readAudit(auditPath(t.home)).map((e) => e.target)).toEqual(["old:p0", "old:p1", "old:p2", "work:anthropic"]);
  });

  it("rotation keeps the chain across files, with a checkpoint closing each; a deleted or edited rotated file is named", async () => {
    const { home, env } = homeWithLog({ AUTHCTL_AUDIT_MAX_BYTES: "1500" });
    const rotated = readdirSync(home).filter((n) => /^audit\.\d{6}\.jsonl$/.test(n)).sort();
    expect(rotated.length).toBeGreaterThanOrEqual(2);
    for (const name of rotated) expect((JSON.parse(logLines(home, name).at(-1)!) as { type?: string }).type).toBe("checkpoint");
    const { exitCode, verdict } = await verify(home, env);
    expect(verdict).toMatchObject({ ok: true, files: [...rotated.map((n) => join(home, n)), auditPath(home)] });
    expect(exitCode).toBe(0);
    expect(readAudit(auditPath(home))).toHaveLength(17);

    const gone = copyOf(home);
    rmSync(join(gone, rotated[1]!));
    await expectTampered(gone, env, "deleted", 1, rotated[2] ?? "audit.jsonl");

    const edited = tampered(home, (lines) => lines.map((l, i) => (i === 1 ? l.replace("work:p1", "work:p9") : l)), rotated[0]);
    await expectTampered(edited, env, "edited", 2, rotated[0]);
  });

  it("two processes appending at once still verify: every line chained once, in one order", async () => {
    const { home, env } = homeWithLog({ AUTHCTL_AUDIT_MAX_BYTES: "20000" });
    // The built library (npm run build), so each writer is its own node process with its own store connection.
    // Both start appending at the same moment, past their start-up.
    const startAt = Date.now() + 2_000;
    const script = `
      const { CredentialStore } = await import(${JSON.stringify(join(REPO, "dist/store/store.js"))});
      const store = CredentialStore.open({ home: process.env.AUTHCTL_HOME, env: process.env });
      store.verifyKey();
      await new Promise((resolve) => setTimeout(resolve, ${startAt} - Date.now()));
      for (let i = 0; i < 150; i++) {
        store.audit("refreshed", "work", process.argv[1] + i, "api_key");
        // A breath between events, as real writers take: the other writer's retry finds the lock free.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      store.close();`;
    const writers = ["a", "b"].map((name) => execa("node", ["--input-type=module", "-e", script, name], { env, extendEnv: false }));
    const results = await Promise.all(writers);
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const { exitCode, verdict } = await verify(home, env);
    expect(verdict.problem).toBeUndefined();
    expect(exitCode).toBe(0);
    expect(verdict.files.length).toBeGreaterThan(1);
    const events = readAudit(auditPath(home));
    for (const name of ["a", "b"]) expect(events.filter((e) => e.target?.startsWith(`work:${name}`))).toHaveLength(150);
    const seqs = events.map((e) => e.seq!);
    expect(new Set(seqs).size).toBe(seqs.length);
    // They did write at the same time: the writers' lines alternate in the log more than once.
    const writer = events.filter((e) => /^work:[ab]/.test(e.target ?? "")).map((e) => e.target![5]);
    expect(writer.filter((w, i) => i > 0 && w !== writer[i - 1]).length).toBeGreaterThanOrEqual(4);
  });
});

describe("the service signs its lines when it stops", () => {
  it("a daemon's clean stop ends the log with a checkpoint over what it served", async () => {
    const t = tempHome("authctl-audit-daemon-");
    cleanups.push(t.cleanup);
    const env = envOf(t.home);
    const context = new Authctl({ env, home: t.home });
    cleanups.push(() => context.close());
    storeApiKey("anthropic", canary("sk-ant-"), { context, credentialSet: "ci" });
    const { socketPath, stop } = await listeningService(context);
    const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
    const { token } = await admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 });
    await new ServiceClient({ socketPath, token }).get("ci", "anthropic");
    await stop();
    const lines = logLines(t.home);
    expect(lines.map((l) => ((line: { op?: string; type?: string }) => line.op ?? line.type)(JSON.parse(l)))).toEqual(["stored", "tokens/mint", "get", "checkpoint"]);
    const { exitCode, verdict } = await verify(t.home, env);
    expect(verdict).toMatchObject({ ok: true, checkpoints: 1, warnings: [] });
    expect(exitCode).toBe(0);
  });
});

describe("authctl audit --session", () => {
  it("the real daemon's proxy: one session's requests with their decisions, and a log that verifies after its clean stop", async () => {
    const t = tempHome("authctl-audit-proxy-");
    cleanups.push(t.cleanup);
    const ghToken = canary("gho_");
    const upstream = await fakeUpstream((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end('{"login":"dev"}'));
    cleanups.push(() => upstream.close());
    mkdirSync(join(t.home, "agents"), { recursive: true });
    const entry = parse(readFileSync(join(BUILTIN_ROSTER_DIR, "gh.yaml"), "utf8"));
    for (const route of Object.values(entry.proxy) as { base_url: string }[]) route.base_url = upstream.url;
    writeFileSync(join(t.home, "agents", "gh.yaml"), stringify(entry));
    const store = CredentialStore.open({ home: t.home, env: envOf(t.home) });
    const hostsYml = `github.com:\n    oauth_token: ${ghToken}\n    user: dev\n`;
    store.put("foo", "gh", "oauth", { type: "oauth", provider: "gh", files: { "hosts.yml": hostsYml }, accessToken: ghToken, account: "dev" }, { preview: "gho_…" });
    store.close();
    mkdirSync(join(t.home, "run"), { recursive: true, mode: 0o700 });
    const socket = join(t.home, "run", "proxy.sock");
    const proxy = await startProxyServe(t.home, ["--socket", socket]);
    cleanups.push(proxy.stop);
    const client = await authctl(t.home, ["proxy", "client", "gh", "--set", "foo", "--session", "e2e-1", "--base-url", "http://127.0.0.1:8787", "--socket", socket, "--json"]);
    expect(client.exitCode, String(client.stderr)).toBe(0);
    const phantom = (JSON.parse(String(client.stdout)) as { env: Record<string, string> }).env.GH_TOKEN!;
    const curl = (method: string, path: string) =>
      execa("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "-X", method, "-H", `Authorization: Bearer ${phantom}`, `http://api.github.com${path}`], { reject: false });
    expect((await curl("GET", "/user")).stdout).toBe("200");
    expect((await curl("POST", "/user/keys")).stdout).toBe("403");
    await proxy.stop();

    const env = envOf(t.home);
    const json = await runInProcess(env, ["audit", "--session", "e2e-1", "--json"]);
    expect(json.exitCode, json.stderr).toBe(0);
    const requests = JSON.parse(json.stdout) as AuditEvent[];
    expect(requests.map((e) => [e.method, e.path, e.status, e.allowed])).toEqual([
      ["GET", "/user", 200, true],
      ["POST", "/user/keys", 403, false],
    ]);
    expect(requests[1]!.reason).toContain("user-keys");
    const { exitCode, verdict } = await verify(t.home, env);
    expect(verdict).toMatchObject({ ok: true, warnings: [] });
    expect(exitCode).toBe(0);
    expect((JSON.parse(logLines(t.home).at(-1)!) as { type?: string }).type).toBe("checkpoint");
    expect(readFileSync(auditPath(t.home), "utf8") + json.stdout).not.toContain(ghToken);
  });

  it("shows one agent session's proxied requests with the decision for each; refuses a malformed id", async () => {
    const { home, env } = homeWithLog();
    const json = await runInProcess(env, ["audit", "--session", "agent-1", "--json"]);
    expect(json.exitCode, json.stderr).toBe(0);
    const requests = JSON.parse(json.stdout) as AuditEvent[];
    expect(requests.map((e) => [e.method, e.path, e.status, e.allowed, e.reason])).toEqual([
      ["GET", "/user", 200, true, undefined],
      ["POST", "/user/keys", 403, false, "deny-durable-credentials"],
    ]);
    const table = await runInProcess(env, ["audit", "--session", "agent-1"]);
    expect(table.stdout).toMatch(/GET\s+\/user\s+allowed 200/);
    expect(table.stdout).toMatch(/POST\s+\/user\/keys\s+denied: deny-durable-credentials 403/);
    expect(table.stdout).not.toContain("stored");
    const other = await runInProcess(env, ["audit", "--session", "agent-2", "--json"]);
    expect(JSON.parse(other.stdout)).toEqual([]);
    const bad = await runInProcess(env, ["audit", "--session", "../x", "--json"]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("--session takes an agent session id");
    expect(home).toBeTruthy();
  });
});
