import { Command } from "commander";
import { StoreLockedError, UsageError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { out, printJson, timeText } from "../io.js";

export const DEFAULT_UNLOCK = "8h";
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `8h`, `30m`, `90s`, `1d`: how long an unlock session lasts. */
export function sessionLength(text: string, maxMs: number): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!(ms > 0) || ms > maxMs) {
    throw new UsageError(`--for takes a length like 8h, 30m or 90s, at most ${maxMs / 3600_000}h; got ${JSON.stringify(text)}`);
  }
  return ms;
}

export interface UnlockOptions {
  for?: string;
  json?: boolean;
}

/**
 * `authctl unlock`: asks a passphrase store's passphrase once and hands the derived key to this
 * home's verified daemon (started if none runs), which keeps it in memory only, until the
 * deadline, `authctl lock` or its exit. Later commands take the key from it instead of asking.
 */
export async function runUnlock(f: Factory, opts: UnlockOptions): Promise<void> {
  const { MAX_UNLOCK_MS, unlockService } = await import("../../access/unlockSession.js");
  const length = sessionLength(opts.for ?? DEFAULT_UNLOCK, MAX_UNLOCK_MS);
  const store = f.store();
  if (store.keyKind !== "scrypt") {
    const kept = store.keyKind === undefined ? "has no key yet" : `keeps its key in ${store.keyKind === "keyring" ? "the OS keyring" : "a key file"}`;
    throw new UsageError(`the store ${store.path} ${kept}, not behind a passphrase: there is nothing to unlock`);
  }
  await f.unlockedStore();
  store.verifyKey();
  const key = store.unlockedKey;
  if (!key) throw new StoreLockedError(`the store ${store.path} stayed locked: run \`authctl unlock\` on a terminal, or set AUTHCTL_PASSPHRASE_COMMAND`);
  const context = await f.context();
  const { connectService } = await import("../../access/connect.js");
  let socketPath = (await connectService(context))?.socketPath;
  if (!socketPath) {
    const { startDetachedService, ON_DEMAND_IDLE_EXIT_MS } = await import("./serve.js");
    const { AUTHCTL_SECRET_ENV, pickEnv } = await import("../../core/env.js");
    // The daemon exits once idle for as long as the session lasts, and the key goes with it. It gets
    // no passphrase source: only the session's key, which `lock` and the deadline take back.
    const env = pickEnv(f.io.env, (name) => !AUTHCTL_SECRET_ENV.includes(name));
    socketPath = await startDetachedService(f, Math.max(length, ON_DEMAND_IDLE_EXIT_MS), ["--await-unlock"], env);
  }
  const { until } = await unlockService(socketPath, key, context.clock.now() + length);
  key.fill(0);
  if (opts.json) return printJson(f.io, { unlocked: true, until: new Date(until).toISOString() });
  out(f.io, `unlocked until ${timeText(new Date(until), context.clock.now())}: commands need no passphrase until then (\`authctl lock\` ends it)`);
}

export async function runLock(f: Factory, opts: { json?: boolean }): Promise<void> {
  const { lockService } = await import("../../access/unlockSession.js");
  const wasUnlocked = await lockService(await f.context());
  if (opts.json) return printJson(f.io, { locked: true, wasUnlocked });
  out(f.io, wasUnlocked ? "locked: the daemon forgot the store key" : "no unlock session was open");
}

export function unlockCommand(f: Factory): Command {
  const command = new Command("unlock")
    .description("ask a passphrase store's passphrase once; later commands need none until --for runs out or `authctl lock`")
    .option("--for <length>", `how long: 8h, 30m, 90s (default ${DEFAULT_UNLOCK}, at most 24h)`)
    .option("--json", "print JSON: unlocked, until")
    .action((opts: UnlockOptions) => runUnlock(f, opts));
  return withExamples(command, f.io, [
    ["ask the passphrase once, for the next 8 hours", "authctl unlock --for 8h"],
    ["end it early", "authctl lock"],
  ]);
}

export function lockCommand(f: Factory): Command {
  return new Command("lock")
    .description("end the unlock session: the daemon forgets the store key")
    .option("--json", "print JSON: locked, wasUnlocked")
    .action((opts: { json?: boolean }) => runLock(f, opts));
}
