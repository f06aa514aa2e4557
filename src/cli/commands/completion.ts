import { existsSync } from "node:fs";
import { Command } from "commander";
import { StoreError, UsageError } from "../../core/errors.js";
import { storePaths } from "../../core/paths.js";
import { DEFAULT_SET } from "../../core/names.js";
import { loadRoster } from "../../roster/load.js";
import { STORE_URL_VARIABLE } from "../../store/selectBackend.js";
import { completionScript, SHELLS, type Shell } from "../completion/scripts.js";
import { completionTree } from "../completion/tree.js";
import type { Factory } from "../factory.js";
import { out } from "../io.js";

/** `authctl completion <shell>`: the script, from the whole command tree (every command file loads: not a hot path). */
export async function runCompletion(f: Factory, shell: string): Promise<void> {
  if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`no completion for shell "${shell}": use one of ${SHELLS.join(", ")}`);
  const { buildProgram } = await import("../program.js");
  f.io.stdout.write(completionScript(shell as Shell, completionTree(await buildProgram(f))));
}

/**
 * The names the scripts complete at run time, from the roster and the store's rows: metadata only,
 * so a locked passphrase store completes as well and no secret is ever read. A home without a
 * store is not created by pressing Tab. A PostgreSQL store's names are in the database (a host of the
 * fleet may never have stored anything); one that cannot be reached leaves the roster's names, as
 * a Tab has nowhere to say why.
 */
export function runCompleteNames(f: Factory, what: string): void {
  const stored = f.io.env[STORE_URL_VARIABLE]?.trim() ? listOrNothing(f) : existsSync(storePaths(f.home).db) ? f.store().list() : [];
  const names =
    // The roster alone, not the whole context (engine detection and friends): this runs at every Tab.
    what === "providers" ? [...loadRoster({ userDir: storePaths(f.home).userRoster }).list().map((p) => p.name), ...stored.map((c) => c.provider)]
    : what === "sets" ? [DEFAULT_SET, ...stored.map((c) => c.credentialSet)]
    : [];
  for (const name of [...new Set(names)].sort()) out(f.io, name);
}

function listOrNothing(f: Factory): ReturnType<ReturnType<Factory["store"]>["list"]> {
  try {
    return f.store().list();
  } catch (error) {
    if (error instanceof StoreError) return [];
    throw error;
  }
}

export function completionCommand(f: Factory): Command {
  return new Command("completion")
    .description("print a shell completion script: `source <(authctl completion bash)`, or save it where your shell loads completions")
    .argument("<shell>", SHELLS.join(", "))
    .action((shell: string) => runCompletion(f, shell));
}

/** Hidden: what the completion scripts call for provider and set names. */
export function completeNamesCommand(f: Factory): Command {
  const command = new Command("__complete")
    .description("names for shell completion (providers, sets); used by `authctl completion` scripts")
    .argument("<what>", "providers or sets")
    .action((what: string) => runCompleteNames(f, what));
  // addCommand's { hidden } option is out of reach of the lazy COMMANDS table; this is the flag it sets.
  (command as unknown as { _hidden: boolean })._hidden = true;
  return command;
}
