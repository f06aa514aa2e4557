import { Command } from "commander";
import { AuthctlError } from "../../core/errors.js";
import type { Factory } from "../factory.js";
import { out, printJson, table } from "../io.js";

/** Where the store is, what unlocks it, and how many credentials (and expired ones) it holds. */
export async function runStatus(f: Factory, opts: { json?: boolean }): Promise<number> {
  const { io } = f;
  const store = f.store();
  const rows = store.list();
  let unlockedBy: string | null = null;
  let lockProblem: string | null = null;
  if (store.keyKind) {
    try {
      await f.unlockedStore();
      store.verifyKey();
      unlockedBy = store.keySource ?? null;
    } catch (e) {
      if (!(e instanceof AuthctlError)) throw e;
      lockProblem = e.message;
    }
  }
  const expired = rows.filter((r) => r.expiresAt && r.expiresAt.getTime() <= Date.now()).length;
  const status = {
    home: store.home,
    database: store.path,
    keyKind: store.keyKind ?? null,
    unlockedBy,
    lockProblem,
    credentials: rows.length,
    expired,
  };
  if (opts.json) printJson(io, status);
  else {
    const lines = [
      ["home", status.home],
      ["database", status.database],
      ["store key", status.keyKind === "scrypt" ? "passphrase (scrypt)" : status.keyKind === "keyfile" ? "key file" : "not created yet (first secret creates it)"],
      ["unlocked by", unlockedBy ?? (lockProblem ? `LOCKED: ${lockProblem}` : "-")],
      ["credentials", `${rows.length}${expired ? ` (${expired} expired)` : ""}`],
    ];
    for (const line of table(lines)) out(io, line);
  }
  return lockProblem ? 1 : 0;
}

export function statusCommand(f: Factory): Command {
  return new Command("status")
    .description("show the store, which source unlocks it, and what it holds")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      f.exitCode = await runStatus(f, opts);
    });
}
