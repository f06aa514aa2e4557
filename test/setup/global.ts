import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO } from "../helpers/env.js";
import { engineAvailable } from "../helpers/engine.js";

/**
 * Builds the local test images once per run (no registry: busybox rootfs + fake vendor CLIs).
 * In CI a missing engine fails the whole run; locally the container suites report it and skip.
 */
export default function setup(): void {
  if (!engineAvailable()) {
    if (process.env.CI === "true") {
      throw new Error("CI=true but no container engine answers: run scripts/setup-container-engine.sh (as root) first");
    }
    return;
  }
  execFileSync("bash", [join(REPO, "test/images/build-test-images.sh")], { stdio: "inherit" });
}
