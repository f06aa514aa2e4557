import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

export const REGISTRY_BIN = "/usr/bin/docker-registry";

export interface Registry {
  /** `127.0.0.1:<port>`, as docker names the registry. */
  host: string;
  /** What the registry logged (requests with their user name, auth failures): evidence, not secrets. */
  log(): string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** htpasswd's bcrypt line for the pair, the password read from stdin (never argv). */
function htpasswdLine(username: string, password: string): string {
  const r = spawnSync("htpasswd", ["-niB", username], { input: password, encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(`htpasswd failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

async function answers(url: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const status = await fetch(url).then((r) => r.status, () => 0);
    if (status === 401) return;
    if (Date.now() - started > timeoutMs) throw new Error(`docker-registry at ${url} did not answer 401 within ${timeoutMs} ms (last: ${status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Debian's docker-registry on a loopback port, its storage under `dir`, Basic auth for one user (htpasswd, bcrypt). */
export async function startRegistry(dir: string, username: string, password: string): Promise<Registry> {
  mkdirSync(join(dir, "data"), { recursive: true });
  writeFileSync(join(dir, "htpasswd"), htpasswdLine(username, password) + "\n");
  const port = await freePort();
  const config = [
    "version: 0.1",
    "log: { level: info }",
    `storage: { filesystem: { rootdirectory: ${JSON.stringify(join(dir, "data"))} } }`,
    `http: { addr: "127.0.0.1:${port}" }`,
    `auth: { htpasswd: { realm: authctl-test, path: ${JSON.stringify(join(dir, "htpasswd"))} } }`,
  ].join("\n");
  writeFileSync(join(dir, "config.yml"), config + "\n");
  const child: ChildProcess = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
  await answers(`http://127.0.0.1:${port}/v2/`, 20_000);
  return {
    host: `127.0.0.1:${port}`,
    log: () => log,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
