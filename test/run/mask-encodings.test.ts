import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Authctl } from "../../src/context.js";
import { storeApiKey } from "../../src/logins/api-key/apiKey.js";
import { CONCEALED, SecretMasker } from "../../src/run/mask.js";
import { runWithCredentials } from "../../src/run/run.js";
import { useCleanups } from "../helpers/cleanups.js";
import { baseEnv } from "../helpers/context.js";
import { authctl, canary, tempHome } from "../helpers/env.js";

const cleanups = useCleanups();

/** A stored Anthropic key with characters that URL encoding changes, so every form differs from the raw key. */
function setup() {
  const t = tempHome("authctl-maskenc-");
  const env = { ...baseEnv(), AUTHCTL_HOME: t.home, NO_COLOR: "1" };
  const context = new Authctl({ env, home: t.home });
  const c = canary();
  const key = `sk-ant-${c.slice(0, 18)}/+=&${c.slice(18)}`;
  storeApiKey("anthropic", key, { context });
  cleanups.push(t.cleanup, () => context.close());
  return { ...t, env, context, key };
}

/** Runs a real `node -e script` through runWithCredentials; returns what reached its stdout and stderr. */
async function runNode(s: ReturnType<typeof setup>, script: string) {
  let stdout = "";
  let stderr = "";
  const out = new PassThrough().on("data", (c: Buffer) => (stdout += c.toString("latin1")));
  const err = new PassThrough().on("data", (c: Buffer) => (stderr += c.toString("latin1")));
  const context = new Authctl({ env: s.env, home: s.home, store: () => s.context.store(), io: { stdin: Readable.from([]), stdout: out, stderr: err } });
  const code = await runWithCredentials(["node", "-e", script], { context });
  expect(code).toBe(0);
  return { stdout, stderr };
}

/**
 * The encoded forms of `secret` a log reader could decode, computed here independently of
 * authctl: for base64 the interior of its encoding after 0, 1 and 2 leading bytes (the same
 * wherever the secret sits in the encoded data).
 */
function forms(secret: string): Record<string, string> {
  const bytes = Buffer.from(secret);
  const out: Record<string, string> = {
    raw: secret,
    "raw, after its public prefix": secret.slice(7),
    hex: bytes.toString("hex"),
    HEX: bytes.toString("hex").toUpperCase(),
    url: encodeURIComponent(secret),
    "url, lowercase escapes": encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
    "form-urlencoded": new URLSearchParams({ k: secret }).toString().slice(2),
  };
  for (const lead of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(lead, 0x61), bytes]);
    out[`base64 after ${lead} bytes`] = padded.toString("base64").slice(4, -4);
    out[`base64url after ${lead} bytes`] = padded.toString("base64url").slice(4, -4);
  }
  return out;
}

function leaks(output: string, secret: string): string[] {
  return Object.entries(forms(secret))
    .filter(([, form]) => output.includes(form))
    .map(([name]) => name);
}

// eslint-disable-next-line no-control-regex
const stripControl = (text: string) => text.replace(/\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, "");

describe("run masking: encodings, control sequences, both streams, AUTHCTL_TOKEN", () => {
  it("conceals base64 (every alignment), base64url, hex (both cases) and URL-encoded forms of a secret", async () => {
    const s = setup();
    const script = `const k = process.env.ANTHROPIC_API_KEY, b = Buffer.from(k);
      for (const lead of ["", "x", "xy"]) {
        console.log("b64 " + Buffer.concat([Buffer.from(lead), b]).toString("base64"));
        console.log("b64url " + Buffer.concat([Buffer.from(lead), b]).toString("base64url"));
        console.error("Basic " + Buffer.from(lead + "user:" + k).toString("base64"));
      }
      console.log("hex " + b.toString("hex")); console.log("HEX " + b.toString("hex").toUpperCase());
      console.log("url ?key=" + encodeURIComponent(k) + "&x=1");
      console.log("url lower " + encodeURIComponent(k).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
      console.error(new URLSearchParams({ key: k, other: "1" }).toString());`;
    const r = await runNode(s, script);
    expect(leaks(r.stdout, s.key)).toEqual([]);
    expect(leaks(r.stderr, s.key)).toEqual([]);
    expect(r.stdout.split("\n").filter(Boolean).every((line) => line.includes(CONCEALED))).toBe(true);
    expect(r.stdout.includes("&x=1")).toBe(true); // only the secret's form goes, not its surroundings
  });

  it("conceals a secret split by ANSI colour, cursor and OSC hyperlink sequences", async () => {
    const s = setup();
    const script = `const k = process.env.ANTHROPIC_API_KEY;
      console.log("a " + k.slice(0, 7) + "\\x1b[0m" + k.slice(7) + " b");
      console.log(k.slice(0, 12) + "\\x1b[1;31m" + k.slice(12, 20) + "\\x1b]8;;https://example.test/\\x07" + k.slice(20) + "\\x1b]8;;\\x1b\\\\");
      process.stdout.write(k.slice(0, 10) + "\\x1b["); setTimeout(() => process.stdout.write("2K" + k.slice(10) + "\\n"), 50);`;
    const r = await runNode(s, script);
    expect(leaks(stripControl(r.stdout), s.key)).toEqual([]);
    expect(stripControl(r.stdout).split("\n").filter(Boolean).every((line) => line.includes(CONCEALED))).toBe(true);
    expect(r.stdout.includes("\x1b[0m")).toBe(true); // the sequences themselves still reach the terminal, after the placeholder
  });

  it("conceals a secret written half to stdout and half to stderr, in either order, with or without newlines", async () => {
    const s = setup();
    const script = `const k = process.env.ANTHROPIC_API_KEY, h = k.length >> 1, q = k.length >> 2;
      const wait = (ms) => new Promise((r) => setTimeout(r, ms));
      (async () => {
        process.stdout.write(k.slice(0, h)); await wait(30); process.stderr.write(k.slice(h)); await wait(30);
        process.stdout.write("\\n"); process.stderr.write("\\n");
        console.error(k.slice(0, h)); await wait(30); console.log(k.slice(h));
        process.stdout.write(k.slice(0, q)); process.stderr.write(k.slice(q, 2 * q)); process.stdout.write(k.slice(2 * q, 3 * q)); process.stderr.write(k.slice(3 * q) + "\\n");
        console.log("b64 " + Buffer.from(k.slice(0, h)).toString("base64")); console.error("b64 " + Buffer.from(k.slice(h)).toString("base64"));
        console.log("hex " + Buffer.from(k.slice(h)).toString("hex")); console.error("hex " + Buffer.from(k.slice(0, h)).toString("hex"));
      })();`;
    const r = await runNode(s, script);
    // Failures name what leaked (a half, an offset), never the secret itself.
    const [first, second] = [s.key.slice(0, s.key.length >> 1), s.key.slice(s.key.length >> 1)];
    const encoded = (half: string) => ({ base64: Buffer.from(half).toString("base64").slice(0, -4), hex: Buffer.from(half).toString("hex") });
    const halves = Object.fromEntries(
      [["first half", first], ["second half", second]].flatMap(([name, half]) => [[name, half], ...Object.entries(encoded(half!)).map(([kind, form]) => [`${name} in ${kind}`, form])]),
    ) as Record<string, string>;
    const secretPart = s.key.slice(7);
    for (const stream of [r.stdout, r.stderr]) {
      expect(Object.entries(halves).filter(([, half]) => stream.includes(half)).map(([name]) => name)).toEqual([]);
      // no run of 8 secret characters past the public prefix reaches either stream
      const offsets = [...Array(secretPart.length - 7).keys()].filter((i) => stream.includes(secretPart.slice(i, i + 8)));
      expect(offsets).toEqual([]);
    }
  });

  it("conceals AUTHCTL_TOKEN, the capability token the child is handed, in every form", async () => {
    const t = tempHome("authctl-masktok-");
    cleanups.push(t.cleanup);
    const extraEnv = { AUTHCTL_PASSPHRASE: canary("pass") };
    expect((await authctl(t.home, ["key", "anthropic", "--stdin"], { input: canary("sk-ant-"), extraEnv })).exitCode).toBe(0);
    cleanups.push(() => authctl(t.home, ["serve", "stop"], { extraEnv }));
    const file = join(t.home, "..", "token-seen-by-child");
    const script = `const t = process.env.AUTHCTL_TOKEN; require("fs").writeFileSync(${JSON.stringify(file)}, t);
      console.log("token " + t); console.error("b64 " + Buffer.from(t).toString("base64")); console.log("hex " + Buffer.from(t).toString("hex"));`;
    const r = await authctl(t.home, ["run", "--", "node", "-e", script], { extraEnv });
    expect(r.exitCode).toBe(0);
    const token = readFileSync(file, "utf8");
    expect(token).toMatch(/^act_/);
    expect(leaks(r.stdout + r.stderr, token).filter((name) => !name.startsWith("url") && name !== "form-urlencoded")).toEqual([]);
    expect(r.stdout.includes(`token ${CONCEALED}`)).toBe(true);
  });

  it("conceals every 8-byte piece of a secret past its prefix, as is, in hex, base64 and URL encoding", async () => {
    const secret = `sk-ant-${canary()}/+=&${canary()}`;
    const encodings: Record<string, (piece: string) => string> = {
      raw: (piece) => piece,
      hex: (piece) => Buffer.from(piece).toString("hex"),
      HEX: (piece) => Buffer.from(piece).toString("hex").toUpperCase(),
      base64: (piece) => Buffer.from(piece).toString("base64"),
      base64url: (piece) => Buffer.from(piece).toString("base64url"),
      url: (piece) => encodeURIComponent(piece),
    };
    const leaked: string[] = [];
    for (let at = 7; at + 8 <= secret.length; at++) {
      const piece = secret.slice(at, at + 8);
      for (const [name, encode] of Object.entries(encodings)) {
        const masker = new SecretMasker([secret]);
        let out = "";
        masker.on("data", (c: Buffer) => (out += c.toString("latin1")));
        masker.end(`x ${encode(piece)} y\n`);
        await new Promise((resolve) => masker.on("end", resolve));
        // base64 of 8 bytes: 10 characters of their own, then one mixed with the padding
        if (out.includes(name.startsWith("base64") ? encode(piece).slice(0, 10) : encode(piece))) leaked.push(`${name} at ${at}`);
      }
    }
    expect(leaked).toEqual([]);
  });

  it("lets a quiet stream's tail that could only begin a fragment out after a short wait, and holds a secret's beginning", async () => {
    const secret = `sk-ant-${canary()}`;
    const masker = new SecretMasker([secret]);
    let out = "";
    masker.on("data", (c: Buffer) => (out += c.toString("latin1")));
    const prompt = `Continue with ${secret.slice(9, 12)}`; // ends like a piece of the secret, too short to be concealed
    masker.write(prompt);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(out).toBe(prompt);
    masker.write(` ${secret.slice(0, 20)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(out).toBe(`${prompt} `); // the beginning of the secret waits for the next write
    masker.end(`${secret.slice(20)}\n`);
    await new Promise((resolve) => masker.on("end", resolve));
    expect(out).toBe(`${prompt} ${CONCEALED}\n`);
  });

  it("holds back only a bounded tail, also under a flood of control sequences inside a partial match", async () => {
    const secret = `sk-ant-${canary()}`;
    const masker = new SecretMasker([secret]);
    let seen = 0;
    masker.on("data", (c: Buffer) => (seen += c.length));
    let written = 0;
    const write = async (text: string) => {
      await new Promise((resolve) => masker.write(Buffer.from(text, "latin1"), resolve));
      written += text.length;
    };
    const settled = () => new Promise((resolve) => setImmediate(resolve));
    await write(secret.slice(0, 10));
    for (let i = 0; i < 2000; i++) await write("\x1b[0m".repeat(25));
    await settled();
    expect(written - seen).toBeLessThan(16 * 1024);
    for (let i = 0; i < 2000; i++) await write(`line ${i} with some ordinary output and a hex id ${i.toString(16)}\n`);
    await settled();
    expect(written - seen).toBeLessThan(16 * 1024);
    masker.end();
  });
});
