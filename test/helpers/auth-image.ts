import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import { REPO } from "./env.js";

/**
 * The auth image the container suites run: AUTHCTL_AUTH_IMAGE, else the one
 * scripts/build-auth-image.sh makes (or finds: a second run builds nothing). The script records
 * its base in $AUTHCTL_HOME/config.yaml, as a user wants; a test gives it a home of its own so
 * the real one (root's, in CI) is never written.
 */
export async function authImage(): Promise<string> {
  const given = process.env.AUTHCTL_AUTH_IMAGE;
  if (given) return given;
  const home = mkdtempSync(join(tmpdir(), "authctl-image-home-"));
  try {
    const build = await execa("bash", [join(REPO, "scripts/build-auth-image.sh")], { env: { AUTHCTL_HOME: home }, reject: false, stdin: "ignore", all: true });
    expect(build.exitCode, build.all).toBe(0);
    const image = build.stdout.trim().split("\n").at(-1)!;
    expect(image).toMatch(/^localhost\/authctl-auth:[0-9a-f]{12}$/);
    return image;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * The base the auth image is built on (`scripts/build-auth-image.sh --base-only`, made or found
 * in the builder engine). `image build --base <it>` then computes the tag the script built, so
 * a test finds that image instead of building on a stale base an engine still holds.
 */
export async function authBaseImage(): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), "authctl-image-home-"));
  try {
    const build = await execa("bash", [join(REPO, "scripts/build-auth-image.sh"), "--base-only"], { env: { AUTHCTL_HOME: home }, reject: false, stdin: "ignore", all: true });
    expect(build.exitCode, build.all).toBe(0);
    return build.stdout.trim().split("\n").at(-1)!;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
