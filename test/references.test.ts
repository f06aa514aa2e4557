import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../src/store/store.js";
import { authctl, canary, tempHome } from "./helpers/env.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
/** Prints a hash of each named variable, never a value. */
const printHashes = (...names: string[]) =>
  `process.stdout.write([${names.map((n) => JSON.stringify(n)).join(",")}].map((n) => require("crypto").createHash("sha256").update(process.env[n] ?? "").digest("hex")).join(" "))`;

describe("authctl:// references: run resolves them for the child, inject renders templates", () => {
  const { home, cleanup } = tempHome();
  const dir = join(home, "..", "files");
  const key = `sk-ant-${canary()}`;

  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    using store = CredentialStore.open({ home, env: { AUTHCTL_HOME: home, AUTHCTL_STORE_KEY: "file" } });
    store.put("work", "anthropic", "api_key", { type: "api_key", key }, { preview: "sk-…" });
  });
  afterAll(cleanup);

  const leaks = (text: string) => expect(text.includes(key), "the stored key was printed").toBe(false);

  it("a reference in the environment is resolved for the child, never printed; the child's own echo of it is masked", async () => {
    const r = await authctl(home, ["run", "--no-token", "--", "node", "-e", printHashes("MY_KEY")], { extraEnv: { MY_KEY: "authctl://work/anthropic" } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(sha(key));
    leaks(r.stdout + r.stderr);
    const echo = await authctl(home, ["run", "--no-token", "--", "node", "-e", "console.log(process.env.MY_KEY)"], { extraEnv: { MY_KEY: "authctl://work/anthropic" } });
    expect(echo.exitCode, echo.stderr).toBe(0);
    leaks(echo.stdout + echo.stderr);
  });

  it("--env-file: its references are resolved and its plain values passed as they are", async () => {
    const envFile = join(dir, "app.env");
    writeFileSync(envFile, `# the app's settings\nFROM_FILE=authctl://work/anthropic\nexport PLAIN="hello there"\n`);
    const r = await authctl(home, ["run", "--no-token", "--env-file", envFile, "--", "node", "-e", printHashes("FROM_FILE", "PLAIN")]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${sha(key)} ${sha("hello there")}`);
    leaks(r.stdout + r.stderr);
  });

  it("a missing credential or an unknown provider: exit 3 naming the reference, with the fix; the child never starts", async () => {
    const marker = join(dir, "started");
    const start = `require("fs").writeFileSync(${JSON.stringify(marker)}, "")`;
    const missing = await authctl(home, ["run", "--no-token", "--", "node", "-e", start], { extraEnv: { S: "authctl://work/stripe" } });
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toContain("authctl://work/stripe: no credentials for work:stripe; run: authctl key stripe --set work");
    const unknown = await authctl(home, ["run", "--no-token", "--", "node", "-e", start], { extraEnv: { S: "authctl://work/nope" } });
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toContain('authctl://work/nope: unknown provider "nope"');
    expect(existsSync(marker)).toBe(false);
    const field = await authctl(home, ["run", "--no-token", "--", "node", "-e", start], { extraEnv: { S: "authctl://work/anthropic/refresh" } });
    expect(field.exitCode).toBe(2);
    expect(field.stderr).toContain('authctl://work/anthropic/refresh: work:anthropic (api_key) has no part named "refresh"');
    leaks(missing.stderr + unknown.stderr + field.stderr);
  });

  it("inject writes a new 0600 file, refuses an existing one without --force, and prints to stdout without -o", async () => {
    const template = join(dir, "config.tmpl");
    const out = join(dir, "config.out");
    writeFileSync(template, "api_key = {{ authctl://work/anthropic }}\nname = demo\n");
    const first = await authctl(home, ["inject", "-i", template, "-o", out]);
    expect(first.exitCode, first.stderr).toBe(0);
    leaks(first.stdout + first.stderr);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const rendered = readFileSync(out, "utf8");
    expect(sha(rendered)).toBe(sha(`api_key = ${key}\nname = demo\n`));
    writeFileSync(template, "api_key = {{authctl://work/anthropic}}\nname = changed\n");
    const again = await authctl(home, ["inject", "-i", template, "-o", out]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`${out} already exists`);
    expect(readFileSync(out, "utf8") === rendered).toBe(true);
    const forced = await authctl(home, ["inject", "-i", template, "-o", out, "--force"]);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(sha(readFileSync(out, "utf8"))).toBe(sha(`api_key = ${key}\nname = changed\n`));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const toStdout = await authctl(home, ["inject", "-i", template]);
    expect(toStdout.exitCode, toStdout.stderr).toBe(0);
    // execa drops the final newline of what it captured.
    expect(sha(toStdout.stdout)).toBe(sha(`api_key = ${key}\nname = changed`));
  });

  it("inject with a missing credential: exit 3 naming the reference, and no file", async () => {
    const template = join(dir, "missing.tmpl");
    const out = join(dir, "missing.out");
    writeFileSync(template, "a = {{ authctl://work/anthropic }}\nb = {{ authctl://work/openai }}\n");
    const r = await authctl(home, ["inject", "-i", template, "-o", out]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain("authctl://work/openai: no credentials for work:openai; run: authctl key openai --set work");
    expect(existsSync(out)).toBe(false);
    leaks(r.stdout + r.stderr);
  });
});
