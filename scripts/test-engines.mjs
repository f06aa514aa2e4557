#!/usr/bin/env node
// `npm test`: the container suites on podman and on docker and, beside them, the suites that need
// no engine (plan "host", with podman's environment).
//
//   npm test                               # podman + host: every suite; docker: the container suites
//   npm test -- test/engine.test.ts        # only these files (each plan takes the ones it runs)
//   AUTHCTL_TEST_ENGINES=podman npm test   # one engine (and the host plan)
//
// The three runs go in parallel: they share no containers (separate engines, or none), no temp
// dirs (every suite makes its own) and no store. Output lines are prefixed with the plan; a
// per-plan summary follows. A run whose engine does not answer is skipped with a reason, or fails
// when CI=true. AUTHCTL_TEST_SUMMARY=<file> receives the totals as JSON (.ci/run prints them).
//
// When a chosen suite runs the real auth image, its build (scripts/build-auth-image.sh: minutes
// on a fresh machine, built with podman and copied into docker) starts here, beside the suites;
// they call the script themselves and wait on its lock, so whichever asks first finds it under way.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const CI = process.env.CI === "true";
const DOCKER_SOCKET = "unix:///var/run/docker.sock";

/** Test files, repo-relative, found the way vitest.config.ts's include does. */
function testFiles(dir = join(REPO, "test")) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : testFiles(path);
    return e.name.endsWith(".test.ts") ? [relative(REPO, path)] : [];
  });
}

/** A container suite is one that asks for an engine (test/helpers/engine.ts). */
const isContainerSuite = (file) => /helpers\/engine\.js["']/.test(readFileSync(join(REPO, file), "utf8"));

function engineEnv(engine) {
  const env = { ...process.env };
  delete env.AUTHCTL_ENGINE;
  delete env.DOCKER_HOST;
  // podman: left to auto-detection (which prefers it), so the default path is what gets tested.
  if (engine === "docker") Object.assign(env, { AUTHCTL_ENGINE: "docker", DOCKER_HOST: DOCKER_SOCKET });
  return env;
}

function engineAnswers(engine) {
  return spawnSync(engine, ["version"], { env: engineEnv(engine), stdio: "ignore", timeout: 20_000 }).status === 0;
}

const args = process.argv.slice(2);
const fileArgs = args.filter((a) => !a.startsWith("-"));
const optionArgs = args.filter((a) => a.startsWith("-"));
const all = testFiles().sort();
const chosen = fileArgs.length ? all.filter((f) => fileArgs.some((a) => f.includes(a.replace(/^\.\//, "")))) : all;
const wanted = (process.env.AUTHCTL_TEST_ENGINES ?? "podman,docker").split(",").map((e) => e.trim()).filter(Boolean);

// Files run one at a time within a plan (vitest.config.ts); the plans run side by side. The suites
// that need no engine (the store, PostgreSQL and fleet suites among them: mostly waiting on
// processes, leases and timeouts) make a plan of their own beside podman's container suites,
// so the run takes as long as its longest plan, not the sum of both.
const containerSuites = chosen.filter(isContainerSuite);
const plans = [
  { name: "podman", engine: "podman", files: containerSuites },
  { name: "host", engine: "podman", needsEngine: false, files: chosen.filter((f) => !containerSuites.includes(f)) },
  { name: "docker", engine: "docker", files: containerSuites },
].filter((p) => wanted.includes(p.engine));

const scratch = mkdtempSync(join(tmpdir(), "authctl-test-engines-"));
const vitest = join(REPO, "node_modules/vitest/vitest.mjs");

/** The suites that run the real auth image call its build script (test/real-image.test.ts …). */
const usesAuthImage = (file) => readFileSync(join(REPO, file), "utf8").includes("scripts/build-auth-image.sh");

/**
 * Builds the auth image for each engine whose chosen suites need it, one engine after the other
 * (podman first: docker's copy comes from it). Resolves to undefined, or to why it failed; the
 * suites then run the script again and fail with its message, so this only tells where to look.
 * Needs root (debootstrap), as the suites' own build does; AUTHCTL_AUTH_IMAGE names a ready image.
 */
async function prebuildAuthImage() {
  if (process.env.AUTHCTL_AUTH_IMAGE || process.getuid?.() !== 0) return undefined;
  const engines = [...new Set(plans.filter((p) => p.files.some(usesAuthImage) && engineAnswers(p.engine)).map((p) => p.engine))];
  // The script records its base in $AUTHCTL_HOME/config.yaml: a home of its own keeps the real one unwritten.
  const home = mkdtempSync(join(tmpdir(), "authctl-image-home-"));
  try {
    for (const engine of engines) {
      const child = spawn("bash", [join(REPO, "scripts/build-auth-image.sh")], { cwd: REPO, env: { ...engineEnv(engine), AUTHCTL_HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
      const lines = [];
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
          lines.push(line);
          if (line.startsWith("[build-auth-image]")) process.stdout.write(`[image] ${line}\n`);
        });
      }
      const code = await new Promise((resolve) => child.once("close", resolve));
      if (code !== 0) return `scripts/build-auth-image.sh for ${engine} exited ${code}; its last lines:\n${lines.slice(-30).join("\n")}`;
    }
    return undefined;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

function run({ name, engine, needsEngine = true, files }) {
  if (files.length === 0) return Promise.resolve({ name, skipped: needsEngine ? "no container suite among the chosen files" : "no engine-free suite among the chosen files" });
  if (needsEngine && !engineAnswers(engine)) {
    const why = `${engine} does not answer (run scripts/setup-container-engine.sh as root)`;
    return Promise.resolve(CI ? { name, error: `CI=true: ${why}` } : { name, skipped: why });
  }
  const json = join(scratch, `${name}.json`);
  const argv = [vitest, "run", ...files, "--reporter=default", "--reporter=json", `--outputFile=${json}`, ...optionArgs];
  const child = spawn(process.execPath, argv, { cwd: REPO, env: engineEnv(engine), stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => {
      (stream === child.stdout ? process.stdout : process.stderr).write(`[${name}] ${line}\n`);
    });
  }
  return new Promise((resolve) => {
    child.once("close", (code) => {
      try {
        const r = JSON.parse(readFileSync(json, "utf8"));
        resolve({
          name,
          files: files.length,
          code,
          passed: r.numPassedTests,
          failed: r.numFailedTests + (code !== 0 && r.numFailedTests === 0 ? 1 : 0),
          skipped: r.numPendingTests + r.numTodoTests,
          failedFiles: r.testResults.filter((t) => t.status === "failed").map((t) => relative(REPO, t.name)),
          failures: failuresOf(r),
        });
      } catch {
        resolve({ name, error: `vitest exited with ${code} and wrote no results` });
      }
    });
  });
}

/**
 * The failed tests of a vitest JSON report, each with the head of its first failure message: the
 * summary ends the output, and a CI log is often read from its tail only.
 */
function failuresOf(report) {
  const failures = [];
  for (const file of report.testResults) {
    const failed = file.assertionResults.filter((t) => t.status === "failed");
    if (file.status === "failed" && failed.length === 0) failures.push({ test: relative(REPO, file.name), message: file.message ?? "" });
    for (const t of failed) failures.push({ test: `${relative(REPO, file.name)} > ${t.fullName}`, message: t.failureMessages?.[0] ?? "" });
  }
  return failures.map(({ test, message }) => ({ test, message: message.replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((line) => !/^\s*at (.*node_modules|new Promise|process\.|node:)/.test(line)).slice(0, 6).join("\n").slice(0, 600) }));
}

const prebuild = prebuildAuthImage();
const results = await Promise.all(plans.map(run));
const prebuildFailure = await prebuild;
rmSync(scratch, { recursive: true, force: true });

const failed = results.flatMap((r) => (r.failures ?? []).map((f) => ({ plan: r.name, ...f })));
if (failed.length) {
  console.log("\nFailed tests (the head of each failure; the full text is above, under the plan's prefix)");
  for (const f of failed.slice(0, 12)) console.log(`  [${f.plan}] ${f.test}\n${f.message.replace(/^/gm, "      ")}`);
  if (failed.length > 12) console.log(`  … and ${failed.length - 12} more`);
}

const totals = { passed: 0, failed: 0, skipped: 0, engines: {} };
console.log("\nTest summary by plan (podman and docker: the container suites; host: the suites that need no engine)");
for (const r of results) {
  totals.engines[r.name] = r;
  if (r.error) {
    totals.failed += 1;
    console.log(`  ${r.name.padEnd(7)} FAILED: ${r.error}`);
  } else if (r.skipped !== undefined && r.passed === undefined) {
    console.log(`  ${r.name.padEnd(7)} not run: ${r.skipped}`);
  } else {
    totals.passed += r.passed;
    totals.failed += r.failed;
    totals.skipped += r.skipped;
    const failedFiles = r.failedFiles.length ? ` (failed: ${r.failedFiles.join(", ")})` : "";
    console.log(`  ${r.name.padEnd(7)} ${r.files} files: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${failedFiles}`);
  }
}
console.log(`  total   ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
if (prebuildFailure) console.log(`\nThe auth image build started before the suites failed: ${prebuildFailure}`);
if (process.env.AUTHCTL_TEST_SUMMARY) writeFileSync(process.env.AUTHCTL_TEST_SUMMARY, JSON.stringify(totals));
process.exit(totals.failed > 0 || results.some((r) => r.code !== undefined && r.code !== 0) ? 1 : 0);
