import { describe, expect, it } from "vitest";
import { mintPhantoms } from "../../src/proxy/phantoms.js";
import { createCredentialProxy } from "../../src/proxy/proxy.js";
import { listenProxy } from "../../src/proxy/server.js";
import { fakeUpstream } from "../helpers/fake-upstream.js";
import { request } from "../helpers/http-reply.js";
import { TYPES, useTypedFixture } from "./payload-types.js";

describe("every payload type round-trips store → the proxy's header", () => {
  const { host, context } = useTypedFixture("tp");

  for (const [type, store] of Object.entries(TYPES)) {
    it(`${type}: the proxy sends its secret upstream in the route's header, and never back`, async () => {
      const stored = await store(host, context);
      const ctx = context();
      const upstream = await fakeUpstream((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end("{}"));
      const mode = stored.authType;
      const proxy = createCredentialProxy({ context: ctx, upstreams: { [stored.provider]: { [mode]: { base_url: upstream.url, allow_paths: ["/v1"], header: "authorization" } } } });
      const listening = await listenProxy(proxy, { port: 0 });
      try {
        const { accessToken } = mintPhantoms(stored.provider, { context: ctx, sessionId: `typed-${type}` });
        const reply = await request(listening.url!, "/v1/user", { authorization: `Bearer ${accessToken}` });
        expect(reply.status).toBe(200);
        expect(upstream.arrivals.at(-1)!.headers.authorization).toBe(`Bearer ${stored.secret}`);
        expect(reply.body.toString()).not.toContain(stored.secret);
      } finally {
        await listening.close();
        await upstream.close();
      }
    }, 30_000);
  }
});
