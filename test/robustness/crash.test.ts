import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { CredentialStore } from "../../src/store/store.js";
import { childEnv, REPO, tempHome } from "../helpers/env.js";
import { rng, seedFromEnv } from "../helpers/prng.js";
import { apiKeyFor, genOf, oauthFor } from "./workers/crash-payloads.mjs";

/**
 * Writes are transactional: a crash leaves the previous credential (docs/store.md). A writer process
 * overwrites the same (set, provider) rows with large payloads — storeApiKey for crash:openai and
 * one putMany for crash:claude + crash:codex — and is SIGKILLed at seeded random moments (during
 * start-up, mid-transaction, mid-checkpoint: wherever it lands). After every kill:
 *  - PRAGMA integrity_check is ok;
 *  - each row decrypts to exactly what some generation wrote (never garbage, never a torn row);
 *  - no acknowledged write is lost (stored generation ≥ the last one the writer reported committed),
 *    and nothing newer than the one in flight appears;
 *  - the two rows of one putMany always come from the same generation (all land or none do).
 * The kill delays come from the seed (replay with AUTHCTL_CRASH_SEED); where exactly each kill
 * lands still depends on the machine, which is the point (AUTHCTL_CRASH_DEBUG=1 logs, per round,
 * the acknowledged and the surviving generations).
 */
const SEED = seedFromEnv(0xc0ffee, "AUTHCTL_CRASH_SEED");
const ROUNDS = 12;
const WORKER = join(REPO, "test/robustness/workers/crash-writer.mjs");

const t = tempHome("authctl-crash-");
afterAll(() => t.cleanup());

interface Acks {
  k: number;
  o: number;
}

describe("crash safety", () => {
  it(`SIGKILL at ${ROUNDS} random moments keeps the store intact and the last committed credential (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const acked: Acks = { k: -1, o: -1 };
    let nextGen = 0;
    const env = childEnv(t.home);

    for (let round = 0; round < ROUNDS; round++) {
      const startGen = nextGen;
      const child = execa("node", [WORKER, String(SEED), String(startGen)], { env, extendEnv: false, reject: false, stdin: "ignore" });
      let out = "";
      const roundAcks: Acks = { k: -1, o: -1 };
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        let nl: number;
        while ((nl = out.indexOf("\n")) !== -1) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          const m = /^([ko]) (\d+)$/.exec(line);
          if (m) roundAcks[m[1] as "k" | "o"] = Number(m[2]);
        }
      });
      // Round 0 first lets one full generation land, so there is always a previous credential;
      // later rounds may be killed anywhere from start-up on.
      await new Promise<void>((resolve, reject) => {
        const ready = round === 0 ? () => roundAcks.o >= startGen : () => out.includes("ready") || roundAcks.k >= startGen;
        const tick = () => (ready() ? resolve() : child.exitCode !== null ? reject(new Error("writer exited early")) : setTimeout(tick, 5));
        tick();
      });
      await new Promise((r) => setTimeout(r, random.range(0, 300)));
      child.kill("SIGKILL");
      const result = await child;
      expect(result.signal, `round ${round}: ${String(result.stderr)}`).toBe("SIGKILL");
      expect(String(result.stderr)).toBe("");

      const inFlightK = roundAcks.k >= 0 ? roundAcks.k + 1 : startGen;
      const inFlightO = roundAcks.o >= 0 ? roundAcks.o + 1 : startGen;
      if (roundAcks.k >= 0) acked.k = roundAcks.k;
      if (roundAcks.o >= 0) acked.o = roundAcks.o;

      using store = CredentialStore.open({ home: t.home, env: {} });
      expect(store.integrityCheck(), `round ${round}`).toBe("ok");

      const key = store.get<{ type: string; key: string }>("crash", "openai")!;
      const kGen = genOf(key.payload.key);
      expect(key.payload).toEqual({ type: "api_key", key: apiKeyFor(SEED, kGen) });
      expect(kGen, `round ${round}: openai lost an acknowledged write`).toBeGreaterThanOrEqual(acked.k);
      expect(kGen).toBeLessThanOrEqual(inFlightK);

      const claude = store.get<{ accessToken: string }>("crash", "claude")!;
      const codex = store.get<{ accessToken: string }>("crash", "codex")!;
      const oGen = genOf(claude.payload.accessToken);
      expect(claude.payload).toEqual(oauthFor(SEED, oGen, "claude"));
      expect(codex.payload).toEqual(oauthFor(SEED, oGen, "codex"));
      expect(oGen, `round ${round}: putMany lost an acknowledged write`).toBeGreaterThanOrEqual(acked.o);
      expect(oGen).toBeLessThanOrEqual(inFlightO);
      expect(store.list({ credentialSet: "crash" }).map((r) => r.provider)).toEqual(["claude", "codex", "openai"]);

      if (process.env.AUTHCTL_CRASH_DEBUG) console.log({ round, startGen, roundAcks, kGen, oGen });
      // What survived is now the last committed state; the next writer starts a new generation.
      acked.k = kGen;
      acked.o = oGen;
      nextGen = Math.max(kGen, oGen) + 1;
    }
  }, 120_000);
});
