import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import {
  buildImage,
  buildRunArgv,
  containerExists,
  contentTag,
  detectEngine,
  forceRemoveContainer,
  imageExists,
  listContainers,
  resetEngineCache,
  type Engine,
} from "../src/engine/index.js";
import { NoEngineError } from "../src/errors.js";
import { requireEngine, TEST_IMAGE } from "./helpers/engine.js";

const hasEngine = requireEngine();

describe("engine detection", () => {
  it("AUTHCTL_ENGINE naming a missing binary is exit 4 naming podman and docker", async () => {
    resetEngineCache();
    const error = await detectEngine({ ...process.env, AUTHCTL_ENGINE: "/nonexistent/podman" }).catch((e) => e);
    expect(error).toBeInstanceOf(NoEngineError);
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/AUTHCTL_ENGINE=\/nonexistent\/podman/);
    expect(error.message).toMatch(/podman/);
    expect(error.message).toMatch(/docker/i);
  });

  it("no engine on PATH says so", async () => {
    resetEngineCache();
    await expect(detectEngine({ PATH: "/nonexistent" })).rejects.toThrow(/neither podman nor docker is on PATH/);
  });

  it.runIf(hasEngine)("finds podman first and its API socket", async () => {
    resetEngineCache();
    const engine = await detectEngine();
    expect(engine.name).toBe("podman");
    expect(engine.binary).toMatch(/\/podman$/);
  });
});

describe("run argv", () => {
  const base: Engine = { name: "podman", binary: "/usr/bin/podman", rootless: false };
  const opts = { image: "img", command: ["claude"], hostDir: "/tmp/x", containerDir: "/home/dev/.claude", containerName: "p-auth-claude", extraRunArgs: ["-e", "A=1"], containerUid: 1000 };

  it("adds -t only with a terminal, and mounts with :Z", () => {
    expect(buildRunArgv(base, { ...opts, tty: true })).toEqual([
      "/usr/bin/podman", "run", "--rm", "-i", "-t", "-e", "A=1", "-v", "/tmp/x:/home/dev/.claude:Z", "--name", "p-auth-claude", "img", "claude",
    ]);
    expect(buildRunArgv(base, { ...opts, tty: false })).not.toContain("-t");
  });

  it("rootless podman maps the host user onto the container user", () => {
    expect(buildRunArgv({ ...base, rootless: true }, { ...opts, tty: false })).toContain("--userns=keep-id:uid=1000,gid=1000");
  });
});

describe("content tags", () => {
  it("change when a file changes and are stable otherwise", () => {
    const dir = mkdtempSync(join(tmpdir(), "authctl-ctx-"));
    writeFileSync(join(dir, "Containerfile"), "FROM scratch\n");
    const first = contentTag("localhost/x", dir);
    expect(contentTag("localhost/x", dir)).toBe(first);
    writeFileSync(join(dir, "Containerfile"), "FROM scratch\nLABEL a=b\n");
    expect(contentTag("localhost/x", dir)).not.toBe(first);
    expect(first).toMatch(/^localhost\/x:[0-9a-f]{12}$/);
    rmSync(dir, { recursive: true });
  });
});

describe.runIf(hasEngine)("engine operations on real podman (API socket and CLI)", async () => {
  const detected = await detectEngine();
  const backends: Array<[string, Engine]> = [["cli", { ...detected, socketPath: undefined }]];
  if (detected.socketPath) backends.push(["api", detected]);
  else if (process.env.CI === "true") throw new Error("CI: the podman API socket is not answering");
  const names: string[] = [];
  afterAll(async () => {
    for (const n of names) await execa(detected.binary, ["rm", "-f", "-t", "0", n], { reject: false });
  });

  it("builds an image from a local base and knows it exists", async () => {
    const dir = mkdtempSync(join(tmpdir(), "authctl-build-"));
    writeFileSync(join(dir, "Containerfile"), `FROM ${TEST_IMAGE}\nLABEL org.authctl.test=engine\n`);
    const lines: string[] = [];
    const tag = contentTag("localhost/authctl-engine-test", dir);
    await buildImage(detected, { contextDir: dir, tag, onProgress: (l) => lines.push(l) });
    expect(lines.length).toBeGreaterThan(0);
    for (const [, engine] of backends) {
      expect(await imageExists(engine, tag)).toBe(true);
      expect(await imageExists(engine, "localhost/authctl-no-such-image:none")).toBe(false);
    }
    await execa(detected.binary, ["rmi", "-f", tag], { reject: false });
    rmSync(dir, { recursive: true });
  });

  for (const [kind, engine] of backends) {
    it(`${kind}: force-removes a running container whose PID 1 ignores SIGTERM, lists by prefix`, async () => {
      const name = `authctl-enginetest-${kind}-${process.pid}`;
      names.push(name);
      await execa(detected.binary, ["run", "-d", "--name", name, TEST_IMAGE, "sh", "-c", "trap '' TERM; sleep 300"]);
      expect(await containerExists(engine, name)).toBe(true);
      expect(await listContainers(engine, { namePrefix: `authctl-enginetest-${kind}-` })).toEqual([name]);
      await forceRemoveContainer(engine, name);
      expect(await containerExists(engine, name)).toBe(false);
      await forceRemoveContainer(engine, name); // a missing container is fine
    });
  }
});
