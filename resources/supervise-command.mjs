// authctl command supervisor (src/core/boundedCommand.ts runs it with spawnSync): starts one
// command in its own process group and, at its deadline, stops the whole group — SIGTERM, then
// SIGKILL after a grace — so nothing it started outlives it. spawnSync alone can only signal the
// command itself, and waits forever for one that ignores the signal. Asked on stdin as JSON
// ({ file, args, timeoutMs, graceMs, maxStdoutBytes, stderrTailBytes }), answered on stdout as JSON;
// the command gets this process's environment. Plain node, no dependencies.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const request = JSON.parse(readFileSync(0, "utf8"));
const child = spawn(request.file, request.args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });

const stdout = [];
let stdoutBytes = 0;
let stderrTail = Buffer.alloc(0);
/** "timeout" or "overflow" once the group is being stopped. */
let stopping;
let killed = false;
let exit;
let answered = false;
const timers = [];

function answer(outcome) {
  if (answered) return;
  answered = true;
  for (const t of timers) clearTimeout(t);
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
  // stdout goes back even on failure: the caller hides it from the stderr tail it shows.
  process.stdout.write(JSON.stringify({ ...outcome, stdout: Buffer.concat(stdout).toString("utf8"), stderrTail: stderrTail.toString("utf8") }));
}

function signalGroup(signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* the group is gone */
  }
}

function groupIsGone() {
  try {
    process.kill(-child.pid, 0);
    return false;
  } catch (err) {
    return err.code === "ESRCH";
  }
}

function settle() {
  // The group gets its SIGKILL at the end of the grace unless nobody is left in it.
  if (stopping && !killed && !groupIsGone()) return;
  if (stopping) return answer({ kind: stopping });
  if (exit.signal) return answer({ kind: "signal", signal: exit.signal });
  answer({ kind: "exited", status: exit.code });
}

function stop(why) {
  if (stopping || answered) return;
  stopping = why;
  signalGroup("SIGTERM");
  timers.push(
    setTimeout(() => {
      signalGroup("SIGKILL");
      killed = true;
      if (exit) return settle();
      // A member that left the group but holds our pipes: stop waiting for them to close.
      timers.push(setTimeout(() => answer({ kind: stopping }), 500));
    }, request.graceMs),
  );
}

child.on("error", (err) => answer({ kind: "not-started", code: err.code ?? err.message }));
child.stdout.on("data", (chunk) => {
  stdoutBytes += chunk.length;
  if (stdoutBytes > request.maxStdoutBytes) return stop("overflow");
  stdout.push(chunk);
});
child.stderr.on("data", (chunk) => {
  const both = Buffer.concat([stderrTail, chunk]);
  stderrTail = both.subarray(Math.max(0, both.length - request.stderrTailBytes));
});
child.on("close", (code, signal) => {
  exit = { code, signal };
  settle();
});
if (child.pid !== undefined) timers.push(setTimeout(() => stop("timeout"), request.timeoutMs));
