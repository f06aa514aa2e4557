import { spawnSync } from "node:child_process";

/**
 * The name of the host account with this uid, creating one (`useradd`, no home) when none exists,
 * so an attack runs as a real second account. Needs root, as CI has.
 */
export function accountWithUid(uid: number): string {
  const found = spawnSync("getent", ["passwd", String(uid)], { encoding: "utf8" });
  if (found.status === 0) return found.stdout.split(":")[0]!;
  const name = `authctl-u${uid}`;
  const made = spawnSync("useradd", ["--uid", String(uid), "--no-create-home", "--shell", "/usr/sbin/nologin", name], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`useradd --uid ${uid} ${name} failed: ${made.stderr}`);
  return name;
}

/** Runs argv as uid (and gid) with no supplementary groups: what that account itself could do. */
export function runAs(uid: number, argv: string[], input?: string) {
  return spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", ...argv], { encoding: "utf8", input, cwd: "/", timeout: 20_000 });
}

/** Whether any account, group or subordinate-id range (/etc/subuid, /etc/subgid) names this id. */
export function idIsOwned(id: number): boolean {
  for (const db of ["passwd", "group"]) {
    if (spawnSync("getent", [db, String(id)]).status === 0) return true;
  }
  return spawnSync("sh", ["-c", `cat /etc/subuid /etc/subgid 2>/dev/null`], { encoding: "utf8" })
    .stdout.split("\n")
    .some((line) => {
      const [, start, count] = line.split(":").map(Number);
      return Number.isInteger(start) && Number.isInteger(count) && id >= start! && id < start! + count!;
    });
}
