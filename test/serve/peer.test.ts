import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY_LABEL } from "../../src/access/adminAuth.js";
import { ServiceClient } from "../../src/access/client.js";
import { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { auditPath, readAudit } from "../../src/store/audit.js";
import { canary } from "../helpers/env.js";
import { baseEnv } from "../helpers/context.js";
import { countOccurrences } from "../helpers/leaks.js";
import { listeningService } from "../helpers/service.js";

const OTHER_UID = 1001;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A service whose socket another uid can reach. Normally the 0700 directory keeps every other
 * account out before the peer check is needed; here the socket sits in a 0711 directory and is
 * made 0666, so the uid check is the line under test. The client must connect itself:
 * SO_PEERCRED records whoever called connect(), so handing it a socket we connected would test us.
 */
async function reachableService(options: { peerCheck?: "off" } = {}) {
  if (process.getuid?.() !== 0) throw new Error("this test runs as root: it starts a client as another uid");
  const dir = mkdtempSync(join(tmpdir(), "authctl-peer-"));
  chmodSync(dir, 0o711);
  const home = join(dir, "home");
  const socketPath = join(dir, "s.sock");
  const env = { ...baseEnv(), AUTHCTL_HOME: home, AUTHCTL_SOCKET: socketPath };
  const context = new Authctl({ env, home });
  const secret = canary("sk-ant-");
  storeApiKey("anthropic", secret, { context, credentialSet: "ci" });
  const { started, stop } = await listeningService(context, options.peerCheck ? { peerCheck: options.peerCheck } : {});
  chmodSync(socketPath, 0o666);
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => context.close(), stop);
  const admin = new ServiceClient({ socketPath, adminKey: context.store().subkey(ADMIN_KEY_LABEL) });
  const { token, id } = await admin.mint({ credentialSet: "ci", providers: ["anthropic"], ops: ["get"], ttlSeconds: 60 });
  return { home, socketPath, secret, token, id, started };
}

/** A `get` from a separate node process running as `uid`; the token travels in its environment, never argv. */
function getAs(uid: number, socketPath: string, token: string): Promise<{ status: number; body: string }> {
  const script = `
    const req = require("node:http").request({ socketPath: process.env.SOCK, path: "/v1/get", method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + process.env.TOKEN } }, (res) => {
      let body = ""; res.on("data", (c) => (body += c)); res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, body })));
    });
    req.on("error", (e) => console.log(JSON.stringify({ status: 0, body: e.code })));
    req.end(JSON.stringify({ credentialSet: "ci", provider: "anthropic" }));`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ["-e", script], { uid, gid: uid, cwd: "/", env: { PATH: process.env.PATH ?? "", SOCK: socketPath, TOKEN: token } }, (error, stdout) =>
      error ? reject(error) : resolve(JSON.parse(stdout) as { status: number; body: string }),
    ),
  );
}

describe("peer credentials: the caller's uid as a second line (SO_PEERCRED through koffi)", () => {
  it("refuses a caller running as another uid even with a valid token (403, audited with its uid and pid); the owner gets the credential", async () => {
    const s = await reachableService();
    const stranger = await getAs(OTHER_UID, s.socketPath, s.token);
    expect(stranger.status).toBe(403);
    expect(s.started.peerCheck).toEqual({ enabled: true });
    expect(JSON.parse(stranger.body).error.message).toMatch(/uid 1001 .*neither .*uid 0/);
    expect(countOccurrences(stranger.body, s.secret)).toBe(0);
    const owner = await getAs(0, s.socketPath, s.token);
    expect(owner.status).toBe(200);
    expect(JSON.parse(owner.body).credential.payload.key).toBe(s.secret);
    const reads = readAudit(auditPath(s.home)).filter((e) => e.op === "get");
    expect(reads.map((e) => [e.actor, e.allowed, e.uid])).toEqual([
      [`token:${s.id}`, false, OTHER_UID],
      [`token:${s.id}`, true, 0],
    ]);
    for (const e of reads) expect(e.pid).toBeGreaterThan(0);
    expect(reads[0]!.reason).toMatch(/uid 1001/);
    const log = readFileSync(auditPath(s.home), "utf8");
    for (const secret of [s.secret, s.token]) expect(countOccurrences(log, secret)).toBe(0);
  });

  it("without the native helper the check is skipped, and the service says so", async () => {
    const s = await reachableService({ peerCheck: "off" });
    expect(s.started.peerCheck).toEqual({ enabled: false, reason: expect.stringMatching(/turned off/) });
    expect((await getAs(OTHER_UID, s.socketPath, s.token)).status).toBe(200); // the token is the only line then
  });
});
