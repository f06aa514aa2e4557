import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { validateApiKey } from "../../src/logins/api-key/apiKey.js";
import { extract, type CapturedFile } from "../../src/logins/container/capture/index.js";
import { loadSession } from "../../src/logins/container/savedSessions.js";
import { Authctl } from "../../src/context.js";
import { CaptureError, InvalidApiKeyError, InvalidNameError, RosterError, UsageError } from "../../src/core/errors.js";
import { BUILTIN_ROSTER_DIR, loadRoster, parseProviderFile } from "../../src/roster/load.js";
import { ProviderSchema, type CaptureSpec } from "../../src/roster/schema.js";
import { assertProviderName, assertSetName, parseCredentialRef } from "../../src/core/names.js";
import { authctl, tempHome } from "../helpers/env.js";
import { STACK_TRACE } from "../helpers/leaks.js";
import { ASCII_PRINTABLE, boundedLoop, boundedLoopAsync, NASTY, rng, seedFromEnv, type Rng } from "../helpers/prng.js";
import { vendorFile, type ContainerProvider } from "../helpers/vendor-command.js";

/**
 * Nothing lost on bad input: roster errors (docs/roster.md), capture validation (docs/security.md), exit codes.
 * Seeded, reproducible fuzz loops, each bounded by a count AND a time budget. Every test name
 * carries its seed; replay a failure with `AUTHCTL_FUZZ_SEED=<seed> npx vitest run test/robustness/fuzz.test.ts`.
 * Each loop collects failures with the iteration and input that caused them, and reports the first few.
 */
const SEED = seedFromEnv(0x5eed2026);
const HEX = "0123456789abcdef";
const t = tempHome("authctl-fuzz-");
afterAll(() => t.cleanup());

// ---------------------------------------------------------------------------------------------
// Generic mutators

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A marker replaced, after serialising, by a deeply nested flow value (`[[[…]]]` / `{"a":{…}}`). */
const DEEP = "__AUTHCTL_FUZZ_DEEP__";

function randomString(r: Rng): string {
  switch (r.int(6)) {
    case 0:
      return "";
    case 1:
      return r.string(r.range(1, 12), NASTY);
    case 2:
      return r.string(r.range(1, 40), ASCII_PRINTABLE + NASTY);
    case 3:
      return r.pick(["..", "/", "/etc/passwd", "../../x", "a/b", "~", "-", "--help", "true", "null", "0", "__proto__", "constructor", "%s%s", "${HOME}", "$(id)"]);
    case 4:
      return "x".repeat(r.pick([127, 128, 129, 4096, 70_000]));
    default:
      return r.string(r.range(1, 20), "abcdefghijklmnopqrstuvwxyz0123456789-_");
  }
}

function randomValue(r: Rng, depth = 0): Json {
  switch (r.int(depth > 2 ? 6 : 8 + (r.chance(0.3) ? 1 : 0))) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 1000, 1_700_000_000_000]);
    case 3:
    case 4:
    case 5:
      return randomString(r);
    case 6:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 7:
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [randomString(r), randomValue(r, depth + 1)]));
    default:
      return DEEP;
  }
}

/** Applies one random structural change somewhere in a JSON-like tree (mutates in place; returns the new root). */
function mutateTree(r: Rng, root: Json): Json {
  // Walk down a random path.
  let parent: Json[] | { [k: string]: Json } | null = null;
  let key: string | number | null = null;
  let node: Json = root;
  while (node !== null && typeof node === "object" && r.chance(0.7)) {
    const keys: Array<string | number> = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    const k = r.pick(keys);
    parent = node;
    key = k;
    node = Array.isArray(node) ? node[k as number]! : node[k as string]!;
  }
  const replace = (value: Json | undefined): Json => {
    if (parent === null || key === null) return value === undefined ? {} : value;
    if (value === undefined) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (Array.isArray(parent)) parent[key as number] = value;
    else parent[key as string] = value;
    return root;
  };
  switch (r.int(12)) {
    case 0:
    case 7:
      return replace(undefined); // drop the field
    case 1:
    case 2:
    case 8:
    case 9:
    case 10:
      return replace(randomValue(r)); // any other type or value
    case 3: // add an unknown field next to it
      if (node !== null && typeof node === "object" && !Array.isArray(node)) node[randomString(r) || "k"] = randomValue(r);
      else if (parent && !Array.isArray(parent)) parent[randomString(r) || "k"] = randomValue(r);
      return root;
    case 4:
      return replace([node]); // wrap
    case 5:
      return replace(typeof node === "string" ? node + r.string(r.range(1, 5), NASTY) : String(node)); // stringify / taint
    default:
      return replace(DEEP); // very deep nesting
  }
}

function deepText(r: Rng, format: "json" | "yaml" | "env"): string {
  const depth = r.pick([500, 5_000, 20_000]);
  if (format === "json" || r.chance(0.5)) return r.chance(0.5) ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  return "[".repeat(depth) + "]".repeat(depth);
}

/** Byte-level damage: flips, insertions of awkward characters, deletions, duplications, truncation. */
function mutateText(r: Rng, text: string): string {
  let out = text;
  for (let n = r.range(1, 3); n > 0; n--) {
    const at = r.int(out.length + 1);
    switch (r.int(6)) {
      case 0:
        out = out.slice(0, at) + r.string(r.range(1, 4), NASTY) + out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + r.range(1, 20));
        break;
      case 2: {
        const len = r.range(1, 40);
        out = out.slice(0, at) + out.slice(at, at + len) + out.slice(at);
        break;
      }
      case 3:
        out = out.slice(0, at);
        break;
      case 4:
        out = out.slice(0, at) + r.bytes(r.range(1, 16)).toString("latin1") + out.slice(at);
        break;
      default:
        out = out.slice(0, at) + r.pick([":", "- ", "\n  ", "{", "}", "[", "]", '"', "'", "&a", "*a", "!!binary ", "? ", "|", "#", "\t"]) + out.slice(at);
    }
  }
  return out;
}

function describeInput(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}… (${text.length} chars)` : text);
}

function report(name: string, seed: number, iterations: number, failures: string[]) {
  expect(iterations).toBeGreaterThan(0);
  expect(failures, `${name}: ${failures.length} failure(s) with AUTHCTL_FUZZ_SEED=${seed} in ${iterations} iterations:\n${failures.slice(0, 5).join("\n\n")}`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// 1. Roster YAML → parseProviderFile: a valid Provider, or RosterError "roster: <file>: …"

/** The message of a `--json` error (`{"error":{"message":…}}` alone on stderr), or undefined when stderr is not one. */
function jsonErrorMessage(stderr: string): string | undefined {
  try {
    const message = (JSON.parse(stderr) as { error?: { message?: unknown } }).error?.message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}

describe("fuzz: roster files", () => {
  const seed = SEED;
  const stream = 0x1;
  it(`parseProviderFile returns a valid provider or throws RosterError, never anything else (AUTHCTL_FUZZ_SEED=${seed})`, () => {
    const r = rng(seed).fork(stream);
    const bases = readdirSync(BUILTIN_ROSTER_DIR)
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => ({ name: f.replace(/\.yaml$/, ""), text: readFileSync(join(BUILTIN_ROSTER_DIR, f), "utf8") }));
    const failures: string[] = [];
    const iterations = boundedLoop(2_000, 5_000, (i) => {
      const base = r.pick(bases);
      const file = `/fuzz/${r.chance(0.9) ? base.name : randomString(r).replace(/\//g, "_") || "x"}.yaml`;
      let text: string;
      const mode = r.int(10);
      if (mode < 6) {
        let tree = parseYaml(base.text) as Json;
        for (let n = r.range(1, 3); n > 0; n--) tree = mutateTree(r, tree);
        text = stringifyYaml(tree).split(DEEP).join(deepText(r, "yaml"));
        if (mode === 5) text = mutateText(r, text);
      } else if (mode < 9) {
        text = mutateText(r, base.text);
      } else {
        text = r.chance(0.5) ? r.bytes(r.range(0, 400)).toString("utf8") : r.string(r.range(0, 200), ASCII_PRINTABLE + NASTY);
      }
      try {
        const provider = parseProviderFile(file, text);
        const again = ProviderSchema.safeParse(provider);
        if (!again.success) failures.push(`#${i} returned an invalid provider for ${describeInput(text)}`);
        else if (`/fuzz/${provider.name}.yaml` !== file) failures.push(`#${i} returned provider ${provider.name} from ${file}`);
      } catch (err) {
        if (!(err instanceof RosterError)) failures.push(`#${i} threw ${(err as Error)?.name}: ${(err as Error)?.message} for ${describeInput(text)}`);
        else if (!err.message.startsWith(`roster: ${file}: `)) failures.push(`#${i} RosterError message ${JSON.stringify(err.message)}`);
      }
    });
    report("roster", seed, iterations, failures);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Captured vendor files → extract: a payload with a token, or CaptureError naming no secret

function codexFile(code: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const jwt = (claims: object) => `${b64({ alg: "RS256", typ: "JWT" })}.${b64(claims)}.sig`;
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    OPENAI_API_KEY: null,
    tokens: {
      id_token: jwt({ email: "dev@example.invalid", exp: now + 3600 }),
      access_token: jwt({ exp: now + 864000, authctl_test_code: code }),
      refresh_token: `rt_${code}`,
      account_id: "acct-test",
    },
    last_refresh: new Date().toISOString(),
  });
}

describe("fuzz: captured vendor files", () => {
  const seed = SEED;
  const stream = 0x2;
  it(`extract returns a token or throws CaptureError, never anything else, never quoting a secret (AUTHCTL_FUZZ_SEED=${seed})`, async () => {
    const r = rng(seed).fork(stream);
    // Parser warnings go to stderr through process.emitWarning: they must not quote the file either.
    const warnings: string[] = [];
    const codes: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    const roster = loadRoster();
    const providers: ContainerProvider[] = ["claude", "codex", "gemini", "gh"];
    const failures: string[] = [];
    const iterations = boundedLoop(4_000, 6_000, (i) => {
      const provider = r.pick(providers);
      const code = `FUZZSECRET${r.string(12, HEX)}`;
      codes.push(code);
      const spec: CaptureSpec = structuredClone(roster.get(provider).oauth!.capture);
      const first = spec.files[0]!;
      let text = provider === "codex" && r.chance(0.7) ? codexFile(code) : vendorFile(provider, code);
      const mode = r.int(10);
      if (mode < 6) {
        let tree = (first.format === "yaml" ? parseYaml(text) : JSON.parse(text)) as Json;
        for (let n = r.range(1, 3); n > 0; n--) tree = mutateTree(r, tree);
        const asYaml = first.format === "yaml" && r.chance(0.7);
        text = asYaml
          ? stringifyYaml(tree).split(DEEP).join(deepText(r, "yaml"))
          : JSON.stringify(tree).split(JSON.stringify(DEEP)).join(deepText(r, "json"));
        if (mode === 5) text = mutateText(r, text);
      } else if (mode < 9) {
        text = mutateText(r, text);
      } else {
        text = r.bytes(r.range(0, 300)).toString("utf8");
      }
      // Sometimes the roster side is odd too: another extractor, an odd expiry, a missing or extra file.
      if (r.chance(0.1)) spec.extractor = r.pick(["claude", "codex", "gemini", "gh", "nosuch", "constructor", "__proto__", "toString"]);
      if (r.chance(0.1)) spec.expiry = { field: r.pick(["a", "tokens.access_token", "claudeAiOauth.expiresAt", "expiry_date", "__proto__.x", "constructor"]), unit: r.pick(["epoch_ms", "epoch_s", "iso", "jwt_exp"] as const) };
      let files: CapturedFile[] = [{ path: first.path, format: first.format, text }];
      if (r.chance(0.05)) files = [];
      if (r.chance(0.05)) files.push({ path: "other.json", format: "json", text: "{}" });
      if (files[0] && r.chance(0.05)) files[0] = { ...files[0], format: r.pick(["json", "yaml", "env"] as const) };
      try {
        const out = extract(provider, spec, files);
        if (typeof out.payload.accessToken !== "string" || out.payload.accessToken.length === 0) failures.push(`#${i} returned an empty token for ${describeInput(text)}`);
        if (out.payload.type !== "oauth" || typeof out.preview !== "string") failures.push(`#${i} returned a malformed result for ${describeInput(text)}`);
        if (out.expiresAt !== null && !Number.isFinite(out.expiresAt.getTime())) failures.push(`#${i} returned an invalid expiry for ${describeInput(text)}`);
        if (out.preview.includes(code)) failures.push(`#${i} preview shows the secret`);
      } catch (err) {
        if (!(err instanceof CaptureError)) failures.push(`#${i} ${provider}: threw ${(err as Error)?.name}: ${(err as Error)?.message} for ${describeInput(text)}`);
        else if (err.message.includes(code)) failures.push(`#${i} ${provider}: CaptureError quotes the secret: ${err.message}`);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 50)); // warnings are emitted on a later tick
    process.off("warning", onWarning);
    for (const w of warnings) {
      const leaked = codes.find((c) => w.includes(c));
      if (leaked) failures.push(`a parser warning printed the secret ${leaked}: ${w.slice(0, 300)}`);
    }
    report("capture", seed, iterations, failures);
  });

  it("a deeply nested value in a wrong-shaped credential file is a CaptureError, not a stack overflow", () => {
    // Minimised from the fuzz loop above.
    const roster = loadRoster();
    // 200,000 levels = 400 KB, well under readCaptureFiles' 1 MiB (10,000 already overflows a cold stack).
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const cases: Array<[ContainerProvider, string]> = [
      ["claude", `{"claudeAiOauth":${deep}}`],
      ["claude", `{"claudeAiOauth":{"accessToken":${deep}}}`],
      ["gemini", `{"access_token":${deep}}`],
      ["gh", `{"github.com":{"users":{"octo":{"oauth_token":${deep}}}}}`],
    ];
    for (const [provider, text] of cases) {
      const spec = roster.get(provider).oauth!.capture;
      expect(() => extract(provider, spec, [{ path: spec.files[0]!.path, format: spec.files[0]!.format, text }]), provider).toThrow(CaptureError);
    }
  });
});

describe("capture messages and warnings never quote the file (minimised from the loop above)", () => {
  const roster = loadRoster();
  const gh = roster.get("gh").oauth!.capture;
  const run = (text: string) => extract("gh", gh, [{ path: "hosts.yml", format: "yaml", text }]);

  it("YAML parser warnings (printed to stderr by node) do not quote the token", async () => {
    const secret = `gho_${randomBytes(12).toString("hex")}`;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    try {
      for (const text of [
        `github.com:\n    oauth_token: !secret ${secret}\n    user: octo\n`, // an unknown tag: accepted, and warned about
        `github.com:\n    oauth_token: ${secret}\n    user: *octo:\n`, // an ambiguous alias
        `{ octo: { oauth_token: ${secret} } }:\n`, // a collection as a key
      ]) {
        try {
          run(text);
        } catch (err) {
          expect(err).toBeInstanceOf(CaptureError);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w.includes(secret))).toEqual([]);
  });

  it("a token sitting in a YAML key is not quoted by the CaptureError", () => {
    const secret = `gho_${randomBytes(12).toString("hex")}`;
    for (const text of [`{ octo: { oauth_token: ${secret} } }:\n`, `? [${secret}]\n`, `${secret}:\n    user: octo\n`]) {
      let caught: unknown;
      try {
        run(text);
      } catch (err) {
        caught = err;
      }
      expect(caught, text).toBeInstanceOf(CaptureError);
      expect((caught as Error).message, text).not.toContain(secret);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Names and keys: pass, or the one typed error

describe("fuzz: set/provider names and API keys", () => {
  const seed = SEED;
  const stream = 0x3;
  it(`parseCredentialRef / assertSetName / assertProviderName throw InvalidNameError or pass; validateApiKey throws InvalidApiKeyError or passes (AUTHCTL_FUZZ_SEED=${seed})`, () => {
    const r = rng(seed).fork(stream);
    const SET = /^[A-Za-z0-9][A-Za-z0-9_.@+-]*$/;
    const PROVIDER = /^[a-z0-9][a-z0-9-]*$/;
    const roster = loadRoster();
    const keyProviders = roster.list().filter((p) => p.modes.includes("api_key"));
    const failures: string[] = [];
    const name = () => {
      switch (r.int(4)) {
        case 0:
          return randomString(r);
        case 1: // near-valid: a valid name with one awkward character somewhere
          return mutateText(r, r.string(r.range(1, 20), "abcdefghijklmnopqrstuvwxyz0123456789-_.@+:"));
        case 2:
          return r.string(r.range(126, 130), "abc");
        default:
          return r.string(r.range(0, 30), "abcXYZ019-_.@+: /\\\u0000é🙂");
      }
    };
    const typed = (fn: () => unknown, what: string, input: string, ok: (v: unknown) => boolean) => {
      try {
        const v = fn();
        if (!ok(v)) failures.push(`${what} accepted ${JSON.stringify(input)} → ${JSON.stringify(v)}`);
      } catch (err) {
        if (!(err instanceof InvalidNameError)) failures.push(`${what}(${JSON.stringify(input)}) threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
      }
    };
    const iterations = boundedLoop(20_000, 3_000, () => {
      const s = name();
      typed(() => assertSetName(s), "assertSetName", s, (v) => v === s && SET.test(s) && s.length <= 128);
      typed(() => assertProviderName(s), "assertProviderName", s, (v) => v === s && PROVIDER.test(s) && s.length <= 128);
      typed(() => parseCredentialRef(s), "parseCredentialRef", s, (v) => {
        const ref = v as { credentialSet: string; provider: string };
        return SET.test(ref.credentialSet) && PROVIDER.test(ref.provider) && (s === ref.provider || s === `${ref.credentialSet}:${ref.provider}`);
      });

      // API keys: a marker in the middle must never reach the error message.
      const marker = `KEYMARK${r.string(8, HEX)}`;
      const provider = r.pick(keyProviders);
      const prefix = r.chance(0.6) ? r.pick(provider.api_key!.prefixes ?? [""]) : randomString(r).slice(0, 8);
      const key = prefix + (r.chance(0.5) ? randomString(r).slice(0, 30) : "") + marker + (r.chance(0.5) ? randomString(r).slice(0, 30) : "");
      try {
        validateApiKey(provider, key);
      } catch (err) {
        if (!(err instanceof InvalidApiKeyError)) failures.push(`validateApiKey threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
        else if (err.message.includes(marker)) failures.push(`validateApiKey quotes the key: ${err.message}`);
      }
    });
    report("names", seed, iterations, failures);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. CLI: saved session files with random content, and random argv

/** Runs `count` async jobs, two at a time (2 cores), within a time budget. */
async function pairwise(count: number, maxMs: number, job: (i: number) => Promise<void>): Promise<number> {
  let done = 0;
  await boundedLoopAsync(Math.ceil(count / 2), maxMs, async (pair) => {
    await Promise.all([pair * 2, pair * 2 + 1].filter((i) => i < count).map(job));
    done = Math.min(count, pair * 2 + 2);
  });
  return done;
}

describe("fuzz: the CLI on bad input", () => {
  const seed = SEED;
  const stream = 0x4;

  it(`session capture of a damaged saved session exits 2 with a message, never a stack trace (AUTHCTL_FUZZ_SEED=${seed})`, async () => {
    const r = rng(seed).fork(stream);
    const home = join(t.home, "sessions-fuzz");
    const sessions = join(home, "sessions");
    mkdirSync(sessions, { recursive: true, mode: 0o700 });
    const failures: string[] = [];
    const valid = (id: string) => ({
      id,
      createdAt: Date.now(),
      state: {
        provider: "gh",
        projectId: "fz",
        credentialSet: "fz",
        exposeToken: false,
        containerName: "fz-auth-gh",
        argv: ["podman", "run"],
        banner: "b",
        title: "GitHub CLI login",
        authDir: join(t.home, "no-such-auth-dir"),
        mountsDir: join(home, "mounts"),
      },
    });
    const iterations = await pairwise(24, 25_000, async (i) => {
      const id = r.string(16, HEX);
      let content: string | Buffer;
      switch (r.int(4)) {
        case 0:
          content = r.bytes(r.range(0, 600));
          break;
        case 1:
          content = JSON.stringify(randomValue(r)) ?? "";
          break;
        case 2: {
          // A valid session with a damaged field: dropped, wrong type, unknown extra, or another id.
          const s = valid(id) as unknown as { [k: string]: Json } & { state: { [k: string]: Json } };
          const target = r.chance(0.6) ? s.state : s;
          const keys = Object.keys(target);
          const k = r.pick(keys);
          const how = r.int(4);
          if (how === 0) delete target[k];
          else if (how === 1) target[k] = r.pick([null, 42, true, [], {}, ["x", 1]] as Json[]);
          else if (how === 2) target[`extra_${r.string(4, "abc")}`] = randomValue(r);
          else s.id = r.string(16, HEX);
          content = JSON.stringify(s);
          break;
        }
        default:
          content = mutateText(r, JSON.stringify(valid(id)));
      }
      writeFileSync(join(sessions, `${id}.json`), content, { mode: 0o600 });
      let damaged = false;
      try {
        loadSession(new Authctl({ env: {}, home }), id);
      } catch (err) {
        damaged = err instanceof UsageError;
      }
      const res = await authctl(home, ["session", "capture", id, "--json"], { timeout: 30_000 });
      const stderr = String(res.stderr);
      const seen = `#${i} exit ${res.exitCode} stderr ${JSON.stringify(stderr.slice(0, 400))} for ${describeInput(Buffer.isBuffer(content) ? content.toString("latin1") : content)}`;
      // Under --json an error is one JSON object on stderr: {"error":{code,message,fix}}.
      const message = jsonErrorMessage(stderr);
      if (STACK_TRACE.test(stderr) || STACK_TRACE.test(String(res.stdout))) failures.push(`stack trace: ${seen}`);
      else if (!message || !/\S/.test(message)) failures.push(`no message: ${seen}`);
      else if (damaged && (res.exitCode !== 2 || !/is damaged/.test(message))) failures.push(`damaged file not exit 2: ${seen}`);
      // A file that still parses as a session gets as far as capture: a clear failure, never success.
      else if (!damaged && ![1, 2, 3, 4].includes(res.exitCode ?? -1)) failures.push(`unexpected exit: ${seen}`);
      rmSync(join(sessions, `${id}.json`), { force: true });
    });
    report("session files", seed, iterations, failures);
  }, 60_000);

  it("a damaged session file can be removed with the command its error message names", async () => {
    const home = join(t.home, "damaged-cleanup");
    mkdirSync(join(home, "sessions"), { recursive: true, mode: 0o700 });
    const id = "00000000000000dd";
    writeFileSync(join(home, "sessions", `${id}.json`), "{not json", { mode: 0o600 });
    const capture = await authctl(home, ["session", "capture", id]);
    expect(capture.exitCode).toBe(2);
    expect(String(capture.stderr)).toContain(`run \`authctl session cleanup ${id}\``);
    const cleanup = await authctl(home, ["session", "cleanup", id]);
    expect(cleanup.exitCode, String(cleanup.stderr)).toBe(0);
    expect(readdirSync(join(home, "sessions"))).toEqual([]);
  });

  it(`random argv exits 0–3 (4 only where an engine is needed) with no stack trace (AUTHCTL_FUZZ_SEED=${seed})`, async () => {
    const r = rng(seed).fork(0x10);
    const home = join(t.home, "argv-fuzz");
    await authctl(home, ["key", "openai", "--set", "fz", "--stdin"], { input: `sk-${randomBytes(12).toString("hex")}` });
    const heads = [["key"], ["creds"], ["creds", "list"], ["creds", "show"], ["creds", "rm"], ["status"], ["providers"], ["session"], ["session", "capture"], ["session", "cleanup"], ["auth"], ["image"], ["help"], ["run"], []];
    const words = ["openai", "claude", "gh", "stripe", "nosuch", "fz:openai", "fz", ":", "a:b:c", "--json", "--set", "--stdin", "--help", "-h", "--version", "--project", "--mode", "oauth", "api-key", "--api-key", "-", "--", "--no-tty", "--image", "--expose-token", "0000000000000000", "ffffffffffffffff", "x".repeat(300), "", " ", "é🙂", "\u0000"];
    const failures: string[] = [];
    const iterations = await pairwise(30, 25_000, async (i) => {
      const argv = [...r.pick(heads), ...Array.from({ length: r.int(5) }, () => (r.chance(0.8) ? r.pick(words) : randomString(r).slice(0, 50)))].map((a) => a.replace(/\u0000/g, ""));
      // No engine, so anything that would start a container fails fast with exit 4 instead.
      const res = await authctl(home, argv, { timeout: 20_000, extraEnv: { AUTHCTL_ENGINE: "/nonexistent/authctl-fuzz-engine" } });
      const out = `${String(res.stdout)}\n${String(res.stderr)}`;
      const needsEngine = argv[0] === "auth" || argv[0] === "image";
      const allowed = needsEngine ? [0, 1, 2, 3, 4] : [0, 1, 2, 3];
      const seen = `#${i} argv ${JSON.stringify(argv)} → exit ${res.exitCode}${res.timedOut ? " (timed out)" : ""}: ${JSON.stringify(String(res.stderr).slice(0, 300))}`;
      if (!allowed.includes(res.exitCode ?? -1)) failures.push(seen);
      else if (STACK_TRACE.test(out)) failures.push(`stack trace: ${seen}`);
    });
    report("argv", seed, iterations, failures);
  }, 60_000);

  it("a login menu with stdin at end-of-file is a usage error, not a silent exit 13", async () => {
    // Found while building the argv loop: `authctl auth claude </dev/null` (both modes → the menu)
    // never gets an answer; node exits 13 ("unsettled top-level await") without a word.
    const home = join(t.home, "menu-eof");
    for (const input of ["", "x\n"]) {
      const res = await authctl(home, ["auth", "claude"], { input, timeout: 20_000, extraEnv: { AUTHCTL_ENGINE: "/nonexistent/authctl-fuzz-engine" } });
      expect(res.timedOut).toBe(false);
      expect(res.exitCode, `input ${JSON.stringify(input)}: ${String(res.stderr)}`).toBe(2);
      expect(String(res.stderr)).toMatch(/authctl: \S/);
    }
  });
});
