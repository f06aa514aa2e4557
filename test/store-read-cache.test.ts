import Database from "better-sqlite3";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { StoreError } from "../src/core/errors.js";
import { CredentialStore } from "../src/store/store.js";
import { canary, REPO, tempHome } from "./helpers/env.js";

const run = promisify(execFile);
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function openStore() {
  const t = tempHome("authctl-read-cache-");
  const env = { AUTHCTL_STORE_KEY: "file" };
  const store = CredentialStore.open({ home: t.home, env });
  cleanups.push(() => {
    store.close();
    t.cleanup();
  });
  return { store, home: t.home, env };
}

describe("the store's decrypted-row cache (the service's get path) never serves a stale or shared row", () => {
  it("sees this store's own writes and removals at once", () => {
    const { store } = openStore();
    const [first, second] = [canary("sk-"), canary("sk-")];
    store.put("ci", "openai", "api_key", { key: first }, { preview: "sk-…" });
    expect(store.get<{ key: string }>("ci", "openai")!.payload.key).toBe(first);
    store.put("ci", "openai", "api_key", { key: second }, { preview: "sk-…" });
    expect(store.get<{ key: string }>("ci", "openai")!.payload.key).toBe(second);
    store.remove("ci", "openai");
    expect(store.get("ci", "openai")).toBeUndefined();
  });

  it("sees a write another process commits, and a row tampered with by another connection", async () => {
    const { store, home, env } = openStore();
    store.put("ci", "openai", "api_key", { key: canary("sk-") }, { preview: "sk-…" });
    store.get("ci", "openai");
    const next = canary("sk-");
    const script = `
      import { CredentialStore } from ${JSON.stringify(join(REPO, "dist/store/store.js"))};
      const s = CredentialStore.open({ home: process.env.HOME_DIR, env: { AUTHCTL_STORE_KEY: "file" } });
      s.put("ci", "openai", "api_key", { key: process.env.NEXT }, { preview: "sk-…" });
      s.close();`;
    await run(process.execPath, ["--input-type=module", "-e", script], { env: { ...env, HOME_DIR: home, NEXT: next } });
    expect(store.get<{ key: string }>("ci", "openai")!.payload.key).toBe(next);
    const other = new Database(join(home, "credentials.db"));
    other.prepare("UPDATE credentials SET provider = 'anthropic' WHERE provider = 'openai'").run();
    other.close();
    expect(store.get("ci", "openai")).toBeUndefined();
    expect(() => store.get("ci", "anthropic")).toThrow(StoreError); // sealed for openai: does not decrypt as anthropic
  });

  it("hands every caller its own payload: changing one does not change the next", () => {
    const { store } = openStore();
    const key = canary("sk-");
    store.put("ci", "openai", "api_key", { key }, { preview: "sk-…" });
    const got = store.get<{ key: string }>("ci", "openai")!;
    got.payload.key = "changed by a caller";
    got.updatedAt.setTime(0);
    const again = store.get<{ key: string }>("ci", "openai")!;
    expect(again.payload.key).toBe(key);
    expect(again.updatedAt.getTime()).not.toBe(0);
  });
});
