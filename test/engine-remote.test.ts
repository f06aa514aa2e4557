import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Engine } from "../src/engine/detect.js";
import { clientCreatesContainers } from "../src/engine/remote.js";

/**
 * A login runs `run` in one process only where nothing but the client itself can create the
 * container (src/logins/container/runSession.ts): any sign of a service must keep create + start.
 */
const dir = mkdtempSync(join(tmpdir(), "authctl-remote-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function conf(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const local = conf("local.conf", '[engine]\ncgroup_manager = "cgroupfs"\n');
const engine = (name: Engine["name"], binary: string, env: Record<string, string> = {}): Engine => ({
  name,
  binary,
  rootless: false,
  env: { CONTAINERS_CONF: local, ...env },
});

describe("clientCreatesContainers", () => {
  it("local podman: the client creates the container itself", () => {
    expect(clientCreatesContainers(engine("podman", "/usr/bin/podman"))).toBe(true);
  });

  it("docker, podman-remote, CONTAINER_HOST, CONTAINER_CONNECTION and containers.conf's remote = true: a service creates it", () => {
    expect(clientCreatesContainers(engine("docker", "/usr/bin/docker"))).toBe(false);
    expect(clientCreatesContainers(engine("podman", "/usr/bin/podman-remote"))).toBe(false);
    expect(clientCreatesContainers(engine("podman", "/usr/bin/podman", { CONTAINER_HOST: "unix:///run/podman/podman.sock" }))).toBe(false);
    expect(clientCreatesContainers(engine("podman", "/usr/bin/podman", { CONTAINER_CONNECTION: "server" }))).toBe(false);
    const remote = conf("remote.conf", "[engine]\n  remote = true\n");
    expect(clientCreatesContainers(engine("podman", "/usr/bin/podman", { CONTAINERS_CONF: remote }))).toBe(false);
  });
});
