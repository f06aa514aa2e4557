import { describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient } from "../../src/access/client.js";
import { canary } from "../helpers/env.js";
import { useHostLoginFixture } from "../helpers/host-roster.js";
import { listeningService } from "../helpers/service.js";

describe("the service's put validates the payload against its type", () => {
  const host = useHostLoginFixture("sp");

  it("refuses a payload of no known type, or not of its type's shape, and stores nothing; a valid one is stored and read back", async () => {
    using ctx = host.context();
    const service = await listeningService(ctx);
    try {
      const client = new ServiceClient({ socketPath: service.socketPath, adminKey: ctx.store().subkey(ADMIN_KEY_LABEL) });
      const key = canary("sk_live_");
      const put = (kind: "api_key" | "oauth", payload: Record<string, unknown>) => client.put({ credentialSet: "default", provider: "stripe", kind, payload, preview: "****", expiresAt: null });
      const unknown = await put("api_key", { secret: key }).catch((e: unknown) => e as Error);
      expect(unknown).toBeInstanceOf(Error);
      expect(String((unknown as Error).message)).toMatch(/default:stripe: the api_key payload is of no known type/);
      const misshapen = await put("oauth", { type: "oauth", files: {}, accessToken: 42 }).catch((e: unknown) => e as Error);
      expect(String((misshapen as Error)?.message)).toMatch(/accessToken/);
      const mismatched = await put("oauth", { type: "api_key", key }).catch((e: unknown) => e as Error);
      expect(String((mismatched as Error)?.message)).toMatch(/an api_key payload is stored as kind api_key, not oauth/);
      expect(ctx.store().info("default", "stripe")).toBeUndefined();
      for (const e of [unknown, misshapen, mismatched]) expect(String((e as Error)?.message)).not.toContain(key);

      await put("api_key", { type: "api_key", key });
      expect((await client.get("default", "stripe")).payload).toEqual({ type: "api_key", key });
    } finally {
      await service.stop();
    }
  });
});
