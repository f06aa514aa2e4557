import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { REPO } from "../helpers/env.js";
import { engineAvailable } from "../helpers/engine.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** This run's temp root; test/setup/tmpdir.ts makes each file's TMPDIR in it. */
    testTmpRoot: string;
    /** The machine's temp dir, shared with everything else on it: no leak scan may walk it. */
    sharedTmpdir: string;
  }
}

/**
 * Builds the local test images once per run (no registry: busybox rootfs + fake vendor CLIs).
 * In CI a missing engine fails the whole run; locally the container suites report it and skip.
 * Makes the run's temp root and removes it at the end: a leak scan then reads only what this run
 * wrote, however busy the machine's /tmp is.
 */
export default function setup(project: TestProject): () => void {
  const shared = tmpdir();
  // Sticky and world-writable like /tmp: the second-account tests reach sockets in it, and what
  // authctl does in its TMPDIR must meet the same permissions it meets on a real machine.
  const root = mkdtempSync(join(shared, "authctl-tests-"));
  chmodSync(root, 0o1777);
  project.provide("testTmpRoot", root);
  project.provide("sharedTmpdir", shared);
  const teardown = () => rmSync(root, { recursive: true, force: true });
  if (!engineAvailable()) {
    if (process.env.CI === "true") {
      teardown();
      throw new Error("CI=true but no container engine answers: run scripts/setup-container-engine.sh (as root) first");
    }
    return teardown;
  }
  execFileSync("bash", [join(REPO, "test/images/build-test-images.sh")], { stdio: "inherit" });
  return teardown;
}
