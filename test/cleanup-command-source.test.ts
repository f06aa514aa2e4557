import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as api from "../src/index.js";
import { Authctl } from "../src/context.js";
import { getCredentials } from "../src/access/credentials.js";
import { SecretSourceError } from "../src/core/errors.js";
import { baseEnv } from "./helpers/context.js";
import { canary, tempHome } from "./helpers/env.js";

describe("storeCommandSourceAsync: a --command key source that does not stop the event loop", () => {
  let h: ReturnType<typeof tempHome>;
  let context: Authctl;
  beforeEach(() => {
    h = tempHome();
    context = new Authctl({ env: { ...baseEnv(), AUTHCTL_HOME: h.home }, home: h.home });
  });
  afterEach(() => {
    context.close();
    h.cleanup();
  });

  it("timers keep firing while the command runs, and the source is stored as the sync one stores it", async () => {
    const key = canary("sk_live_");
    const file = join(h.home, "..", "secret.txt");
    writeFileSync(file, key, { mode: 0o600 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 50);
    try {
      // A vault that takes a second to answer (a touch, a network round trip).
      const summary = await api.storeCommandSourceAsync("stripe", ["sh", "-c", `sleep 1; cat '${file}'`], { context });
      expect(summary).toMatchObject({ credentialSet: "default", provider: "stripe" });
      expect(JSON.stringify(summary)).not.toContain(key);
    } finally {
      clearInterval(timer);
    }
    // A blocked loop would tick at most once, after the command ended.
    expect(ticks).toBeGreaterThanOrEqual(8);
    expect(context.store().get("default", "stripe")!.payload).toMatchObject({ type: "command", command: ["sh", "-c", `sleep 1; cat '${file}'`] });
    expect(getCredentials("stripe", { context }).payload).toMatchObject({ key });
  });

  it("a command that fails is a SecretSourceError and nothing is stored", async () => {
    const error = await api.storeCommandSourceAsync("stripe", ["false"], { context }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretSourceError);
    expect((error as Error).message).toMatch(/stripe: the secret command `false` exited with status 1/);
    expect(context.store().info("default", "stripe")).toBeUndefined();
  });

  it("an output that does not look like the provider's key is refused unless forced, as with the sync form", async () => {
    await expect(api.storeCommandSourceAsync("stripe", ["echo", "not-a-key"], { context })).rejects.toThrow(/stripe/);
    expect(context.store().info("default", "stripe")).toBeUndefined();
    await expect(api.storeCommandSourceAsync("stripe", ["echo", "not-a-key"], { context, force: true })).resolves.toMatchObject({ provider: "stripe" });
  });
});
