import { createServer, type Server, type ServerResponse } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiBackend } from "../src/engine/api.js";
import { sendWire } from "../src/access/client.js";
import { EngineError, HttpExchangeError, ServiceError } from "../src/core/errors.js";
import { httpCall } from "../src/core/http.js";

/**
 * A server shaped like the engine API (docker's or podman's compat socket) that answers every
 * request with a body that never ends: the client must stop reading at its cap, not buffer it all.
 */
describe("engine API client: response size cap", () => {
  const dir = mkdtempSync(join(tmpdir(), "authctl-cleanup-http-"));
  const socketPath = join(dir, "engine.sock");
  let server: Server;
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, "[");

  const endless = (res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json" });
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) sent += chunk.length;
      if (!res.destroyed) res.once("drain", pump);
    };
    pump();
  };

  beforeAll(async () => {
    server = createServer((_req, res) => endless(res));
    await new Promise<void>((done) => server.listen(socketPath, done));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("an endless body is a bounded EngineError naming the socket, not a hang or unbounded memory", async () => {
    const started = Date.now();
    const error = await apiBackend(socketPath).listContainers({}).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineError);
    expect((error as Error).message).toContain(socketPath);
    expect((error as Error).message).toMatch(/over \d+ bytes/);
    // Stopped near its cap (MiBs), long before the 60 s request timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  }, 20_000);

  it("the service client stops at its cap too (a daemon that answers without end)", async () => {
    const error = await sendWire({ socketPath, path: "/v1/health" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as Error).message).toMatch(/over \d+ bytes/);
  }, 20_000);
});

describe("httpCall", () => {
  let server: Server;
  let base = "";
  beforeAll(async () => {
    // One byte a second, forever: never idle long enough for a socket timeout, never over a size cap soon.
    server = createServer((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write("x"), 1_000);
      res.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  });

  it("a body trickled without end is cut off at the deadline, with reason timeout", async () => {
    const started = Date.now();
    const error = await httpCall({ url: `${base}/`, timeoutMs: 1_500, maxBytes: 1024 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpExchangeError);
    expect((error as HttpExchangeError).reason).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a body over maxBytes has reason too_large", async () => {
    const error = await httpCall({ url: `${base}/`, timeoutMs: 10_000, maxBytes: 2 }).catch((e: unknown) => e);
    expect((error as HttpExchangeError).reason).toBe("too_large");
  });
});
