import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { InterruptedError } from "../../src/core/errors.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { runWithCredentials } from "../../src/run/run.js";
import { useCleanups } from "../helpers/cleanups.js";
import { baseEnv } from "../helpers/context.js";
import { authctl, canary, CLI, tempHome } from "../helpers/env.js";
import { runInProcess } from "../helpers/memory-io.js";

const cleanups = useCleanups();

function setup() {
  const t = tempHome("authctl-runlib-");
  const env = { ...baseEnv(), AUTHCTL_HOME: t.home, NO_COLOR: "1" };
  const context = new Authctl({ env, home: t.home });
  const key = canary("sk-ant-");
  storeApiKey("anthropic", key, { context });
  cleanups.push(t.cleanup, () => context.close());
  return { ...t, env, context, key };
}

function collecting() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

describe("runWithCredentials (library)", () => {
  it("relays the child's output to streams that are not file descriptors, masked", async () => {
    const s = setup();
    const stdout = collecting();
    const stderr = collecting();
    const context = new Authctl({ env: s.env, home: s.home, store: () => s.context.store(), io: { stdin: Readable.from([]), stdout: stdout.stream, stderr: stderr.stream } });
    const code = await runWithCredentials(["node", "-e", "console.log(process.env.ANTHROPIC_API_KEY); console.error('e ' + process.env.ANTHROPIC_API_KEY)"], { context });
    expect(code).toBe(0);
    expect(stdout.text()).toBe("<concealed by authctl>\n");
    expect(stderr.text()).toBe("e <concealed by authctl>\n");
  });

  it("an abort on its signal reaches the child as the stop signal it stands for", async () => {
    const s = setup();
    const stdout = collecting();
    const context = new Authctl({ env: s.env, home: s.home, store: () => s.context.store(), io: { stdin: Readable.from([]), stdout: stdout.stream, stderr: new PassThrough() } });
    const controller = new AbortController();
    const script = `process.on("SIGHUP", () => { console.log("hup"); process.exit(9); }); console.log("ready"); setInterval(() => {}, 1000);`;
    const running = runWithCredentials(["node", "-e", script], { context, signal: controller.signal });
    await new Promise<void>((resolve) => stdout.stream.on("data", (d: Buffer) => d.toString().includes("ready") && resolve()));
    controller.abort(new InterruptedError("SIGHUP"));
    expect(await running).toBe(9);
    expect(stdout.text()).toBe("ready\nhup\n");
  });

  it("in-process CLI: `run` sets the exit code and conceals output on memory streams", async () => {
    const s = setup();
    const r = await runInProcess(s.env, ["run", "--no-token", "--", "sh", "-c", 'echo "k=$ANTHROPIC_API_KEY"; exit 4']);
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toBe("k=<concealed by authctl>\n");
  });

  it("keeps the child's exit code when the service goes away mid-run", async () => {
    const s = setup();
    const stop = `node ${JSON.stringify(CLI)} serve stop`;
    const r = await authctl(s.home, ["run", "--", "sh", "-c", `test -n "$AUTHCTL_TOKEN" && ${stop} && exit 5`]);
    expect(r.stderr).toContain("stopped the authctl service");
    expect(r.exitCode).toBe(5);
    expect(r.stdout + r.stderr).not.toContain(s.key);
  });
});
