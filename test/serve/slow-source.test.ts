import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient } from "../../src/access/client.js";
import { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { canary, tempHome } from "../helpers/env.js";
import { baseEnv } from "../helpers/context.js";
import { listeningService } from "../helpers/service.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("secret commands in the service", () => {
  it("a slow secret command holds up only its own caller: the daemon answers others meanwhile", async () => {
    const t = tempHome("authctl-slow-source-");
    cleanups.push(() => t.cleanup());
    const started = join(t.home, "..", "vault-started");
    const script = join(t.home, "..", "slow-vault");
    const vaulted = canary("hvs.");
    // Stands in for a secret manager that waits on the user (a 1Password prompt): it says it began, then takes 3 s.
    writeFileSync(script, `#!/bin/sh\ntouch '${started}'\nsleep 3\nprintf '%s\\n' "$SLOW_VAULT_SECRET"\n`);
    chmodSync(script, 0o755);
    mkdirSync(join(t.home, "agents"), { recursive: true });
    const entry = { name: "vaulted", label: "Vaulted", kind: "service", modes: ["api_key"], api_key: { env_var: "VAULTED_KEY" }, source: { command: [script], timeout_ms: 20_000 } };
    writeFileSync(join(t.home, "agents", "vaulted.yaml"), stringify(entry));
    const env = { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_PASSPHRASE: canary("pass"), SLOW_VAULT_SECRET: vaulted };
    const context = new Authctl({ env, home: t.home });
    const stripe = canary("sk_live_");
    storeApiKey("stripe", stripe, { context });
    const { socketPath, stop } = await listeningService(context);
    cleanups.push(() => context.close(), stop);
    const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });

    const answered: string[] = [];
    const slow = admin.get<{ key: string }>("default", "vaulted").then((c) => (answered.push("vaulted"), c));
    for (let waited = 0; !existsSync(started) && waited < 10_000; waited += 20) await sleep(20);
    expect(existsSync(started), "the secret command never started").toBe(true);
    const fast = await admin.get<{ key: string }>("default", "stripe").then((c) => (answered.push("stripe"), c));
    expect(fast.payload.key).toBe(stripe);
    expect((await slow).payload.key).toBe(vaulted);
    expect(answered).toEqual(["stripe", "vaulted"]);
  });

  it("a secret command past its timeout is stopped with every process it started, and the caller gets the reason", async () => {
    const t = tempHome("authctl-slow-source-");
    cleanups.push(() => t.cleanup());
    const marker = `authctl-hung-${process.pid}`;
    const script = join(t.home, "..", "hung-vault");
    // A child and a grandchild, both named by the marker, so a leftover is found by name.
    writeFileSync(script, `#!/bin/bash\necho "asking the vault" >&2\n(exec -a ${marker} sleep 1000) &\nexec -a ${marker} sleep 1000\n`);
    chmodSync(script, 0o755);
    mkdirSync(join(t.home, "agents"), { recursive: true });
    const entry = { name: "vaulted", label: "Vaulted", kind: "service", modes: ["api_key"], api_key: { env_var: "VAULTED_KEY" }, source: { command: [script], timeout_ms: 500 } };
    writeFileSync(join(t.home, "agents", "vaulted.yaml"), stringify(entry));
    const context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_PASSPHRASE: canary("pass") }, home: t.home });
    storeApiKey("stripe", canary("sk_live_"), { context });
    const { socketPath, stop } = await listeningService(context);
    cleanups.push(() => context.close(), stop);
    const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
    const error = await admin.get("default", "vaulted").then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/did not finish within 500 ms/);
    expect(error?.message).toMatch(/asking the vault/);
    expect(spawnSync("pgrep", ["-f", marker]).status, "a process of the timed-out command is still running").toBe(1);
  });
});
