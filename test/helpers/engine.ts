import { spawnSync } from "node:child_process";

export const TEST_IMAGE = "localhost/authctl-test-vendor:latest";
export const ENGINE = process.env.AUTHCTL_ENGINE ?? "podman";

/** True when the engine CLI answers. CI treats false as a failure, never a skip. */
export function engineAvailable(): boolean {
  const r = spawnSync(ENGINE, ["version"], { stdio: "ignore", timeout: 20_000 });
  return r.status === 0;
}

/** For container suites: in CI a missing engine throws (fails), elsewhere it skips with a reason. */
export function requireEngine(): boolean {
  if (engineAvailable()) return true;
  if (process.env.CI === "true") throw new Error(`CI=true and ${ENGINE} does not answer: the container suite cannot run`);
  console.warn(`skipping container tests: ${ENGINE} is not available (run scripts/setup-container-engine.sh)`);
  return false;
}

/**
 * Force-removes containers at once: podman waits 10 s for a PID 1 that ignores SIGTERM unless
 * told `-t 0`, which docker's `rm` does not take (it kills at once), so a shared line would fail there.
 */
export function removeContainers(...names: string[]): void {
  if (names.length) spawnSync(ENGINE, ["rm", "-f", ...(ENGINE.includes("podman") ? ["-t", "0"] : []), ...names], { stdio: "ignore", timeout: 60_000 });
}

/** Names of containers (running or not) whose name starts with the prefix. */
export function containersNamed(prefix: string): string[] {
  const r = spawnSync(ENGINE, ["ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" });
  return r.stdout.split("\n").filter((n) => n.startsWith(prefix));
}

/** `ps -a` rows (name, status, created, labels) of containers whose name starts with the prefix: for failure messages. */
export function containerDetails(prefix: string): string {
  const r = spawnSync(ENGINE, ["ps", "-a", "--format", "{{.Names}} | {{.Status}} | {{.CreatedAt}} | {{.Labels}}"], { encoding: "utf8" });
  return r.stdout.split("\n").filter((n) => n.startsWith(prefix)).join("\n");
}

/**
 * Waits until the agent forwarder of a detached container (`… node /opt/authctl/forward.mjs sleep N`)
 * listens on its port: `run -d` returns before node has started, and a client exec'd at once would
 * meet a refused connection. Reads /proc/net/tcp, so it needs only `sh` and `grep` in the image.
 */
export function waitForForwarder(name: string, timeoutMs = 60_000): void {
  const listening = 'grep -qi ":$(printf %04X "$AUTHCTL_PROXY_PORT") 00000000:0000 0A" /proc/net/tcp';
  const script = `i=0; until ${listening}; do i=$((i+1)); [ $i -gt ${Math.ceil(timeoutMs / 100)} ] && exit 1; sleep 0.1; done`;
  const r = spawnSync(ENGINE, ["exec", name, "sh", "-c", script], { encoding: "utf8", timeout: timeoutMs + 20_000 });
  if (r.status !== 0) throw new Error(`the agent forwarder in ${name} did not listen within ${timeoutMs} ms: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
}
