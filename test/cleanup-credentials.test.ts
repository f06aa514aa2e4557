import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { ServiceClient } from "../src/access/client.js";
import { ADMIN_KEY_LABEL } from "../src/access/adminAuth.js";
import { Authctl } from "../src/context.js";
import { storeApiKey } from "../src/index.js";
import { baseEnv } from "./helpers/context.js";
import { canary, REPO, tempHome } from "./helpers/env.js";
import { listeningService } from "./helpers/service.js";

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Needs the built package (`npm run build`): the sync client must be called from another process than the service's. */
describe("synchronous getCredentials over the service", () => {
  it("one worker serves every call of a process, and it does not keep the process alive", async () => {
    const t = tempHome("authctl-cleanup-cred-");
    const env = { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_PASSPHRASE: canary("pass") };
    const context = new Authctl({ env, home: t.home });
    const key = canary("sk-ant-");
    storeApiKey("anthropic", key, { context, credentialSet: "ci" });
    const { socketPath, stop } = await listeningService(context);
    cleanups.push(() => t.cleanup(), () => context.close(), stop);
    const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
    const { token } = await admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 });

    // No process.exit: the child must end on its own once its calls are done.
    const script = `
      import { getCredentials } from ${JSON.stringify(join(REPO, "dist/index.js"))};
      let workers = 0;
      process.on("worker", () => workers++);
      let same = 0;
      for (let i = 0; i < 5; i++) if (getCredentials("anthropic", { credentialSet: "ci" }).payload.key === process.env.EXPECTED) same++;
      // The 'worker' event comes once the event loop turns, after the calls.
      process.on("exit", () => console.log(JSON.stringify({ workers, same })));`;
    const childEnv = { ...baseEnv(), AUTHCTL_HOME: t.home, AUTHCTL_SOCKET: socketPath, AUTHCTL_TOKEN: token, EXPECTED: key };
    const result = await execa(process.execPath, ["--input-type=module", "-e", script], { env: childEnv, extendEnv: false, timeout: 20_000, reject: false });
    expect(result.timedOut).toBe(false);
    expect(result.stdout + result.stderr).not.toContain(key);
    expect(JSON.parse(result.stdout)).toEqual({ workers: 1, same: 5 });
  }, 30_000);
});
