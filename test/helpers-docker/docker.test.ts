import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authctl, canary, childEnv, REPO, tempHome } from "../helpers/env.js";
import { TEST_IMAGE } from "../helpers/engine.js";
import { filesContaining } from "../helpers/leaks.js";
import { startRegistry, type Registry } from "./registry.js";

/**
 * The real docker CLI (and daemon) against Debian's docker-registry with htpasswd auth, logging
 * in, pushing and pulling through docker-credential-authctl. In CI a missing docker is a failure.
 */
const dockerAnswers = spawnSync("docker", ["version"], { stdio: "ignore", timeout: 20_000, env: { ...process.env, DOCKER_HOST: "unix:///var/run/docker.sock" } }).status === 0;
if (!dockerAnswers && process.env.CI === "true") throw new Error("CI=true and docker does not answer: the docker credential helper suite cannot run");

const t = tempHome("authctl-docker-");
const root = dirname(t.home);
const dockerConfig = join(root, "docker-config");
const binDir = join(root, "bin");
const USER = "tester";
const password = canary("regpw-");
const printed: string[] = [];
const HELPER = join(REPO, (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { bin: Record<string, string> }).bin["docker-credential-authctl"]!);

let registry: Registry;
let image: string;

function dockerEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = childEnv(t.home, { DOCKER_CONFIG: dockerConfig, DOCKER_HOST: "unix:///var/run/docker.sock", PATH: `${binDir}:${process.env.PATH ?? ""}`, ...extra });
  delete env.DOCKER_AUTH_CONFIG;
  return env;
}

async function docker(args: string[], options: { input?: string; env?: Record<string, string> } = {}) {
  const r = await execa("docker", args, { env: dockerEnv(options.env), extendEnv: false, reject: false, timeout: 120_000, ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }) });
  printed.push(r.stdout, r.stderr);
  return r;
}

/** The helper as docker runs it: from PATH, the operation in argv, the request on stdin. A `get`'s answer holds the secret by design. */
async function helper(operation: string, input: string, env: Record<string, string> = {}) {
  const r = await execa("docker-credential-authctl", [operation], { env: dockerEnv(env), extendEnv: false, reject: false, timeout: 30_000, input });
  printed.push(r.stderr, ...(operation === "get" ? [] : [r.stdout]));
  return r;
}

beforeAll(async () => {
  if (!dockerAnswers) return;
  registry = await startRegistry(join(root, "registry"), USER, password);
  mkdirSync(join(t.home, "agents"), { recursive: true });
  writeFileSync(
    join(t.home, "agents", "testreg.yaml"),
    `name: testreg\nlabel: Test registry\nkind: service\nmodes: [api_key]\napi_key: { env_var: TESTREG_PASSWORD }\nregistry: { hosts: ["${registry.host}"], username: ${USER} }\n`,
  );
  mkdirSync(dockerConfig, { recursive: true });
  writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ credHelpers: { [registry.host]: "authctl" } }));
  mkdirSync(binDir, { recursive: true });
  writeFileSync(join(binDir, "docker-credential-authctl"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(HELPER)} "$@"\n`);
  chmodSync(join(binDir, "docker-credential-authctl"), 0o755);
  const stored = await authctl(t.home, ["key", "testreg", "--stdin"], { input: password });
  printed.push(stored.stdout, stored.stderr);
  expect(stored.exitCode).toBe(0);
  image = `${registry.host}/authctl-test/vendor:${canary("t").toLowerCase()}`;
}, 60_000);

afterAll(async () => {
  if (image) spawnSync("docker", ["rmi", "-f", image], { stdio: "ignore", env: dockerEnv(), timeout: 60_000 });
  await registry?.close();
  t.cleanup();
});

describe.skipIf(!dockerAnswers)("docker through docker-credential-authctl", () => {
  it("get answers the roster's user name and the stored secret; list names the registry", async () => {
    const get = await helper("get", `${registry.host}\n`);
    expect(get.exitCode).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ ServerURL: registry.host, Username: USER, Secret: password });
    const list = await helper("list", "");
    expect(JSON.parse(list.stdout)).toEqual({ [registry.host]: USER });
  });

  it("docker login takes the stored credential, and push and pull succeed", async () => {
    const login = await docker(["login", registry.host]);
    expect(login.stderr + login.stdout).toMatch(/Login Succeeded/);
    expect(login.exitCode).toBe(0);
    expect((await docker(["tag", TEST_IMAGE, image])).exitCode).toBe(0);
    const push = await docker(["push", image]);
    expect(push.stderr).toBe("");
    expect(push.exitCode).toBe(0);
    expect((await docker(["rmi", image])).exitCode).toBe(0);
    const pull = await docker(["pull", image]);
    expect(pull.exitCode).toBe(0);
    expect(pull.stdout).toContain(image);
    // The registry saw the user the roster names, authenticated.
    expect(registry.log()).toMatch(new RegExp(`auth\\.user\\.name="?${USER}`));
  });

  it("a set without the credential: get says docker's 'not found' on stdout (exit 1), the fix on stderr, and the pull is refused by the registry", async () => {
    const get = await helper("get", registry.host, { AUTHCTL_SET: "empty" });
    expect(get.stdout).toBe("credentials not found in native keychain");
    expect(get.stderr).toContain("authctl key testreg --set empty");
    expect(get.exitCode).toBe(1);
    const pull = await docker(["pull", image], { env: { AUTHCTL_SET: "empty" } });
    expect(pull.exitCode).not.toBe(0);
    expect(pull.stderr).toMatch(/no basic auth credentials|unauthorized|authentication required/i);
    expect(pull.stderr).not.toMatch(/error getting credentials/);
  });

  it("a registry no roster entry declares is 'not found', so docker goes on without credentials", async () => {
    const get = await helper("get", "https://index.docker.io/v1/");
    expect(get.stdout).toBe("credentials not found in native keychain");
    expect(get.stderr).toMatch(/no roster entry lists index\.docker\.io under registry\.hosts/);
    expect(get.exitCode).toBe(1);
  });

  it("docker login --password-stdin stores the secret as the registry provider's key in the set; the same one again changes nothing", async () => {
    const login = await docker(["login", "-u", USER, "--password-stdin", registry.host], { input: password, env: { AUTHCTL_SET: "fresh" } });
    expect({ exitCode: login.exitCode, stderr: login.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const token = await authctl(t.home, ["token", "testreg", "--set", "fresh"]);
    expect(token.stdout).toBe(password);
    const before = await authctl(t.home, ["creds", "show", "fresh:testreg", "--json"]);
    const again = await docker(["login", "-u", USER, "--password-stdin", registry.host], { input: password, env: { AUTHCTL_SET: "fresh" } });
    expect({ exitCode: again.exitCode, stderr: again.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const after = await authctl(t.home, ["creds", "show", "fresh:testreg", "--json"]);
    expect(after.stdout).toBe(before.stdout);
  });

  it("store refuses a user name other than the roster's and a registry none declares, on stdout where docker shows it, quoting no secret", async () => {
    const other = canary("other-");
    const wrongUser = await helper("store", JSON.stringify({ ServerURL: registry.host, Username: "someone", Secret: other }), { AUTHCTL_SET: "wrong" });
    expect(wrongUser.exitCode).toBe(1);
    expect(wrongUser.stdout).toContain(`${registry.host} is testreg's registry with user name "${USER}" in the roster`);
    const unknown = await helper("store", JSON.stringify({ ServerURL: "registry.example.com", Username: USER, Secret: other }), { AUTHCTL_SET: "wrong" });
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stdout).toMatch(/none lists registry\.example\.com under registry\.hosts/);
    expect((await authctl(t.home, ["token", "testreg", "--set", "wrong"])).exitCode).toBe(3);
    const notJson = await helper("store", `{"Secret":"${other}"`);
    expect(notJson.exitCode).toBe(1);
    expect(printed.join("\n")).not.toContain(other);
  });

  it("docker logout leaves the credential in authctl; erase says how to remove it", async () => {
    // docker warns only when every address it erases fails, and the http:// and https:// spellings go to its own file store.
    const logout = await docker(["logout", registry.host]);
    expect(logout.exitCode).toBe(0);
    const erase = await helper("erase", registry.host);
    expect(erase.stdout).toContain("docker logout does not remove it. To remove it: authctl creds rm default:testreg");
    expect(erase.exitCode).toBe(1);
    const token = await authctl(t.home, ["token", "testreg"]);
    expect(token.stdout).toBe(password);
  });

  it("the password is in no file under the temp dir (docker's config, the registry's storage, authctl's home) and in nothing docker printed", () => {
    expect(readFileSync(join(dockerConfig, "config.json"), "utf8")).not.toContain(password);
    expect(filesContaining(tmpdir(), password)).toEqual([]);
    expect(printed.join("\n")).not.toContain(password);
  });
});
