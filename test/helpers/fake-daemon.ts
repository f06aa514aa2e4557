import { spawn } from "node:child_process";
import { join } from "node:path";
import { accountWithUid } from "./accounts.js";

/** The attacker: a real second account. */
export const ATTACKER = 1001;

/** What the attacker's daemon records: every request it is sent, authorization header included. */
export interface Received {
  path: string;
  authorization: string;
}

const FAKE_DAEMON = `
const http = require("node:http"), fs = require("node:fs"), path = require("node:path");
const { DIR, DECOY, VICTIM } = process.env;
fs.mkdirSync(DIR, { recursive: true });
fs.chmodSync(DIR, 0o777);
const sock = path.join(DIR, "authctl.sock");
const answers = {
  "/v1/health": { ok: true, protocol: 1, pid: Number(VICTIM), home: "/", daemonId: "a".repeat(32), proxy: { socket: DECOY } },
  "/v1/tokens/mint": { id: "attacker", token: "act_attacker_chosen", expiresAt: Date.now() + 3600000 },
};
http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    console.log(JSON.stringify({ path: req.url, authorization: req.headers.authorization || "" }));
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answers[req.url] || { ok: true }));
  });
}).listen(sock, () => {
  fs.chmodSync(sock, 0o666);
  fs.writeFileSync(path.join(DIR, "serve.pid"), VICTIM + "\\n");
  console.log("ready");
});`;

/**
 * The attacker's fake daemon in `dir` (which it creates, mode 0777), as uid 1001: it answers health
 * (naming `plant.decoy` as its proxy and `plant.victim` as its pid) and records every request;
 * `received()` is what reached it. Stopped by `cleanups`.
 */
export async function foreignDaemon(dir: string, plant: { decoy: string; victim: number }, cleanups: Array<() => unknown>) {
  if (process.getuid?.() !== 0) throw new Error("this test runs as root: the attacker runs as another account");
  accountWithUid(ATTACKER);
  const env = { PATH: process.env.PATH ?? "", DIR: dir, DECOY: plant.decoy, VICTIM: String(plant.victim) };
  const child = spawn(process.execPath, ["-e", FAKE_DAEMON], { uid: ATTACKER, gid: ATTACKER, cwd: "/", env, stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
  for (const start = Date.now(); !out.includes("ready\n"); await new Promise((r) => setTimeout(r, 25))) {
    if (Date.now() - start > 15_000 || child.exitCode !== null) throw new Error(`the fake daemon did not start: ${out}`);
  }
  // After a pause: a line the attacker printed may still be on its way through the pipe.
  const received = async () => {
    await new Promise((r) => setTimeout(r, 300));
    return out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Received);
  };
  return { socket: join(dir, "authctl.sock"), received };
}
