import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hostIdDatabases, hostIdDatabasesAhead, sandboxId } from "../src/engine/containerUser.js";

/**
 * The sandbox id root's login containers run as must belong to nobody, NSS included: these tests
 * give the id the files leave free to an account, then to a group, that only NSS knows (a systemd
 * userdb record in /run/userdb, which nss-systemd serves), and check that the lookup a login makes
 * ahead of the engine (both databases, one process) passes it over.
 */
const USERDB = "/run/userdb";
const NAME = `authctltest${process.pid}`;
const nssServesUserdb = /^(passwd|group):.*\bsystemd\b/m.test(existsSync("/etc/nsswitch.conf") ? readFileSync("/etc/nsswitch.conf", "utf8") : "");
const canRun = process.getuid?.() === 0 && nssServesUserdb;

let madeDir = false;
const written: string[] = [];

function record(file: string, body: object): void {
  if (!existsSync(USERDB)) {
    mkdirSync(USERDB, { mode: 0o755 });
    madeDir = true;
  }
  const path = join(USERDB, file);
  writeFileSync(path, JSON.stringify(body));
  written.push(path);
}

afterEach(() => {
  for (const path of written.splice(0)) rmSync(path, { force: true });
  if (madeDir && readdirSync(USERDB).length === 0) rmdirSync(USERDB);
  madeDir = false;
});

describe.runIf(canRun)("the sandbox id and NSS-only accounts (root, nss-systemd)", () => {
  const firstFree = () => sandboxId({ ...hostIdDatabases(), lookup: undefined });

  it("passes over an id that only an NSS account has", async () => {
    const id = firstFree();
    expect(sandboxId(await hostIdDatabasesAhead())).toBe(id);
    record(`${NAME}.user`, { userName: NAME, uid: id, gid: 65534 });
    record(`${id}.user`, { userName: NAME, uid: id, gid: 65534 });
    expect(spawnSync("getent", ["passwd", String(id)]).status).toBe(0);
    expect(spawnSync("getent", ["group", String(id)]).status).not.toBe(0);
    expect(sandboxId(await hostIdDatabasesAhead())).not.toBe(id);
  });

  it("passes over an id that only an NSS group has", async () => {
    const id = firstFree();
    record(`${NAME}.group`, { groupName: NAME, gid: id });
    record(`${id}.group`, { groupName: NAME, gid: id });
    expect(spawnSync("getent", ["group", String(id)]).status).toBe(0);
    expect(spawnSync("getent", ["passwd", String(id)]).status).not.toBe(0);
    expect(sandboxId(await hostIdDatabasesAhead())).not.toBe(id);
  });
});
