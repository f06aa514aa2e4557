import type { Authctl } from "../context.js";
import { authctlHome } from "../core/paths.js";
import type { Roster } from "../roster/load.js";
import { keyFileChosen } from "../store/keyring.js";
import { passphraseWeakness } from "../store/keySource.js";
import { CredentialStore } from "../store/store.js";
import { promptHidden, promptLine } from "../ui/prompt.js";
import { type IOStreams, stdinIsTTY } from "./io.js";

/**
 * What every command gets (gh's `cmdutil.Factory`): the streams, the stop signal, and the parts of
 * authctl built lazily from them. `store()` is light (read-only commands stay fast); `context()`
 * loads the roster, engine detection and the login layer only for commands that need them, and
 * shares the same open store.
 */
export interface Factory {
  readonly io: IOStreams;
  readonly signal: AbortSignal;
  readonly home: string;
  /** What the command wants the process to exit with when it returns normally (e.g. status: locked). */
  exitCode: number;
  store(): CredentialStore;
  context(): Promise<Authctl>;
  roster(): Promise<Roster>;
  /** The store, unlocked: a passphrase store with no passphrase in the environment asks on the terminal, once. */
  unlockedStore(): Promise<CredentialStore>;
  close(): void;
}

/** A store with no key yet, no passphrase in the environment, and a person at the terminal. */
function firstRunOnTerminal(s: CredentialStore, io: IOStreams): boolean {
  return s.keyKind === undefined && !keyFileChosen(io.env) && io.env.AUTHCTL_PASSPHRASE === undefined && io.env.AUTHCTL_PASSPHRASE_COMMAND === undefined && stdinIsTTY(io);
}

/**
 * First run with no keyring (docs/store.md): ask rather than silently write a key file. A passphrase
 * or the declined key file is chosen now, so the keyring is not asked twice.
 */
async function offerPassphrase(s: CredentialStore, io: IOStreams): Promise<void> {
  const answer = await promptLine(io, `No OS keyring answered. Protect the store ${s.path} with a passphrase? (no: a 0600 key file next to it) [y/N] `);
  if (!/^y(es)?$/i.test(answer.trim())) return s.createKeyFile();
  for (;;) {
    const passphrase = await promptHidden(io, "new store passphrase: ");
    if (!passphrase) {
      io.stderr.write("authctl: an empty passphrase protects nothing; try again\n");
      continue;
    }
    const weak = io.env.AUTHCTL_ALLOW_WEAK_PASSPHRASE === "1" ? undefined : passphraseWeakness(passphrase);
    if (weak) {
      io.stderr.write(`authctl: that passphrase is too weak (${weak}); try a few unrelated words (AUTHCTL_ALLOW_WEAK_PASSPHRASE=1 accepts it anyway)\n`);
      continue;
    }
    if ((await promptHidden(io, "repeat it: ")) === passphrase) return s.unlockWithPassphrase(passphrase);
    io.stderr.write("authctl: the two passphrases differ; try again\n");
  }
}

/** The key of an unlock session (`authctl unlock`) from this home's verified daemon, if one holds it. */
async function keyFromSession(f: Factory, s: CredentialStore): Promise<void> {
  const { keyFromUnlockSession } = await import("../access/unlockSession.js");
  // No daemon, an untrusted one or none holding a session: the passphrase is asked as before.
  const key = await keyFromUnlockSession(await f.context()).catch(() => undefined);
  if (!key) return;
  s.unlockWithKey(key);
  key.fill(0);
}

export function createFactory(io: IOStreams, signal: AbortSignal): Factory {
  const home = authctlHome(io.env);
  let store: CredentialStore | undefined;
  let context: Promise<Authctl> | undefined;
  const f: Factory = {
    io,
    signal,
    home,
    exitCode: 0,
    store() {
      store ??= CredentialStore.open({ home, env: io.env });
      return store;
    },
    context() {
      // One open store for the whole command, opened on first use (`authctl providers` never creates it).
      context ??= import("../context.js").then(({ Authctl }) => new Authctl({ env: io.env, home, io, ...(io.cwd === undefined ? {} : { cwd: io.cwd }), store: () => f.store() }));
      return context;
    },
    async roster() {
      return (await f.context()).roster();
    },
    async unlockedStore() {
      const s = f.store();
      if (firstRunOnTerminal(s, io) && !s.createKeyInKeyring()) await offerPassphrase(s, io);
      if (s.needsPassphrasePrompt()) await keyFromSession(f, s);
      if (s.needsPassphrasePrompt() && stdinIsTTY(io)) s.unlockWithPassphrase(await promptHidden(io, "authctl store passphrase: "));
      return s;
    },
    close() {
      store?.close();
    },
  };
  return f;
}
