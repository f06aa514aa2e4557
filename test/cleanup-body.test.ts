import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaptureError } from "../src/core/errors.js";
import { prepareHostLogin } from "../src/logins/authenticator.js";
import { postJson } from "../src/proxy/refresh.js";
import { oauth2At, useHostLoginFixture, writeUserRoster } from "./helpers/host-roster.js";

const FIFTY_MB = 50 * 1024 * 1024;

/**
 * A token endpoint that answers every token request with 50 MB of JSON-typed bytes (the device
 * authorization endpoint answers normally, so a device-code login gets as far as its first poll).
 * `sent` counts what the client let it write.
 */
class HugeTokenEndpoint {
  sent = 0;
  private server!: Server;
  base = "";
  host = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      if (req.url === "/device/code") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ device_code: "dc", user_code: "ABCD-EFGH", verification_uri: `${this.base}/verify`, expires_in: 600, interval: 1 }));
        return;
      }
      this.fifty(res);
    });
    await new Promise<void>((done) => this.server.listen(0, "127.0.0.1", done));
    const { port } = this.server.address() as AddressInfo;
    this.host = `127.0.0.1:${port}`;
    this.base = `http://${this.host}`;
  }

  private fifty(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "application/json", "content-length": FIFTY_MB });
    const chunk = Buffer.alloc(256 * 1024, " ");
    const pump = () => {
      while (!res.destroyed && this.sent < FIFTY_MB) {
        this.sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    res.write("{");
    pump();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

describe("token endpoints answering 50 MB are refused at the one body cap", () => {
  const huge = new HugeTokenEndpoint();
  const host = useHostLoginFixture("b");
  beforeAll(() => huge.start());
  afterAll(() => huge.close());

  it("a host login's token poll: a CaptureError naming the host and the cap", async () => {
    huge.sent = 0;
    writeUserRoster(host.home, oauth2At(huge.base, "oauth2_device"));
    using context = host.context();
    await using session = await prepareHostLogin("fakehub", { context });
    const error = await session.capture().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CaptureError);
    expect((error as Error).message).toContain(huge.host);
    expect((error as Error).message).toMatch(/over 1048576 bytes/);
    expect(context.store().info("default", "fakehub")).toBeUndefined();
    // Cut off near the cap: the rest of the 50 MB was never read.
    expect(huge.sent).toBeLessThan(FIFTY_MB / 2);
  }, 30_000);

  it("the proxy's refresh call: an error naming the host and the cap", async () => {
    huge.sent = 0;
    const error = await postJson(`${huge.base}/oauth/token`, { grant_type: "refresh_token" }, 10_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(huge.host);
    expect((error as Error).message).toMatch(/over 1048576 bytes/);
    expect(huge.sent).toBeLessThan(FIFTY_MB / 2);
  }, 30_000);
});
