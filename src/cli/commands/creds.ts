import { Command } from "commander";
import { MissingCredentialsError, StoreLockedError, UsageError } from "../../core/errors.js";
import { fixCommandIn } from "../../roster/fixCommand.js";
import { assertSetName, parseCredentialRef } from "../../core/names.js";
import type { CredentialInfo } from "../../store/store.js";
import { credentialListing, listingOf } from "../../access/listCredentials.js";
import { EXIT } from "../exitCodes.js";
import type { Factory } from "../factory.js";
import { withExamples } from "../help.js";
import { type IOStreams, out, printJson, stateColor, table, timeText } from "../io.js";

/** One credential as `creds list --json` and the library's `listCredentials()` give it. */
export const infoJson = (info: CredentialInfo) => listingOf(info, Date.now());

/** When it expires, in red once it has; `relativeOnly` for a table's column. */
function expiryText(io: IOStreams, info: CredentialInfo, now: number, relativeOnly = false): string {
  const text = timeText(info.expiresAt, now, { relativeOnly });
  return info.expiresAt && info.expiresAt.getTime() <= now ? stateColor(io, "expired", `expired ${text}`) : text;
}

export function runCredsList(f: Factory, opts: { set?: string; json?: boolean }): void {
  const { io } = f;
  if (opts.set) assertSetName(opts.set);
  if (opts.json) return printJson(io, credentialListing(f.store(), Date.now(), opts.set));
  const rows = f.store().list({ credentialSet: opts.set });
  if (rows.length === 0) {
    io.stderr.write(`No credentials stored${opts.set ? ` in set "${opts.set}"` : ""}. Add one with \`authctl key <provider>\` or \`authctl auth <provider>\`.\n`);
    return;
  }
  const now = Date.now();
  const table_ = [["SET", "PROVIDER", "KIND", "PREVIEW", "EXPIRES", "UPDATED"]];
  for (const r of rows) {
    table_.push([r.credentialSet, r.provider, r.kind, r.preview, expiryText(io, r, now, true), timeText(r.updatedAt, now, { relativeOnly: true })]);
  }
  // One write, not one per row: with 1,000 rows the writes showed in the start-up profile.
  out(io, table(table_, io).join("\n"));
}

/** Shows everything about a credential but its secret; the payload is never decrypted here. */
async function missing(f: Factory, provider: string, credentialSet: string): Promise<MissingCredentialsError> {
  return new MissingCredentialsError(provider, credentialSet, fixCommandIn(await f.roster(), provider, credentialSet));
}

/** `set:provider`, or `<provider> --set S` as every other command names one; both only when they agree. */
function credentialOf(ref: string, set: string | undefined): { credentialSet: string; provider: string } {
  const parsed = parseCredentialRef(ref);
  if (set === undefined) return parsed;
  if (!ref.includes(":")) return { credentialSet: assertSetName(set), provider: parsed.provider };
  if (parsed.credentialSet !== set) throw new UsageError(`"${ref}" names set "${parsed.credentialSet}" but --set says "${set}": give one of them`);
  return parsed;
}

/**
 * `--check`: the login probed at its vendor as `status --check` probes it (the roster's probe),
 * for the account it belongs to; the secret goes only to the vendor's own endpoint.
 */
async function probe(f: Factory, credentialSet: string, provider: string) {
  const [{ probeCredential }, roster] = await Promise.all([import("../../access/statusProbe.js"), f.roster()]);
  const row = (await f.unlockedStore()).get(credentialSet, provider);
  if (!row) throw await missing(f, provider, credentialSet);
  return probeCredential(row, roster.has(provider) ? roster.get(provider) : undefined, f.signal);
}

/**
 * Opens the row, where its key is at hand without asking: a row's facts and preview are sealed
 * with its payload, so one whose payload or facts were changed fails here, naming it, instead of
 * being shown. A store only a passphrase prompt would open is shown as stored, as before.
 */
function verifyRow(f: Factory, credentialSet: string, provider: string): void {
  const store = f.store();
  if (store.needsPassphrasePrompt()) return;
  try {
    store.get(credentialSet, provider);
  } catch (error) {
    if (!(error instanceof StoreLockedError)) throw error;
  }
}

export async function runCredsShow(f: Factory, ref: string, opts: { json?: boolean; set?: string; check?: boolean }): Promise<void> {
  const { io } = f;
  const { credentialSet, provider } = credentialOf(ref, opts.set);
  const info = f.store().info(credentialSet, provider);
  if (!info) throw await missing(f, provider, credentialSet);
  verifyRow(f, credentialSet, provider);
  const check = opts.check ? await probe(f, credentialSet, provider) : undefined;
  if (check) await (await import("../../access/status.js")).keepIdentities(f.store(), [{ credentialSet, provider, check }], Date.now());
  // A login the vendor refused (or that could not be asked) fails the command, as in `status --check`.
  if (check?.result === "rejected" || check?.result === "failed") f.exitCode = EXIT.error;
  const listing = infoJson(info);
  const identity = check?.identity ?? listing.identity;
  if (opts.json) return printJson(io, { ...listing, ...(identity ? { identity } : {}), ...(check ? { check } : {}) });
  const now = Date.now();
  const lines = [
    ["credential", `${info.credentialSet}:${info.provider}`],
    ["kind", info.kind],
    ["preview", info.preview],
    ["expires", expiryText(io, info, now)],
    ["created", timeText(info.createdAt, now)],
    ["updated", timeText(info.updatedAt, now)],
    ...(identity || check ? [["account", identity ?? "-"]] : []),
    ...(check ? [["check", stateColor(io, check.result, `${check.result}: ${check.detail}`)]] : []),
  ];
  for (const line of table(lines)) out(io, line);
}

/** Removes the credential and every copy a container login exposed of it (the library's removeCredential). */
export async function runCredsRm(f: Factory, ref: string, opts: { json?: boolean; set?: string } = {}): Promise<void> {
  if (!ref.trim()) throw new UsageError("creds rm needs <provider> [--set S] (or <set:provider>)");
  const { credentialSet, provider } = credentialOf(ref, opts.set);
  const { removeCredential } = await import("../../access/removeCredential.js");
  const context = await f.context();
  const removed = await removeCredential(provider, { credentialSet, context }).catch((error: unknown) => {
    if (!(error instanceof MissingCredentialsError)) throw error;
    // Storing is not the fix for a removal of nothing: say so, and what there is to remove instead.
    const held = context.store().list({ credentialSet }).map((c) => c.provider);
    const instead = held.length > 0 ? `${credentialSet} holds: ${held.join(", ")}` : `nothing is stored in ${credentialSet}; see \`authctl creds list\``;
    throw new MissingCredentialsError(provider, credentialSet, "authctl creds list", `nothing to remove: ${credentialSet}:${provider} is not stored (${instead})`);
  });
  if (opts.json) return printJson(f.io, { removed: `${credentialSet}:${provider}`, kind: removed.kind, removedFiles: removed.removedFiles });
  out(f.io, removed.kind ? `Removed ${credentialSet}:${provider}` : `${credentialSet}:${provider} was not stored`);
  for (const file of removed.removedFiles) out(f.io, `Removed its copy ${file}`);
}

export function credsCommand(f: Factory): Command {
  const creds = new Command("creds").description("list, show and remove stored credentials (never prints a secret)");
  creds
    .command("list")
    .description("list stored credentials")
    .option("--set <set>", "only this credential set")
    .option("--json", "print JSON")
    .action((opts: { set?: string; json?: boolean }) => runCredsList(f, opts));
  creds
    .command("show")
    .description("show one credential, redacted")
    .argument("<provider>", "e.g. anthropic --set ci, or ci:anthropic (a bare provider without --set means the default set)")
    .option("--set <set>", "credential set")
    .option("--check", "probe it at its vendor (the roster's probe, as status --check) and show the account it belongs to")
    .option("--json", "print JSON (with --check: check {result, identity, detail})")
    .action((ref: string, opts: { json?: boolean; set?: string; check?: boolean }) => runCredsShow(f, ref, opts));
  creds
    .command("rm")
    .description("remove one credential")
    .argument("<provider>", "e.g. anthropic --set ci, or ci:anthropic (a bare provider without --set means the default set)")
    .option("--set <set>", "credential set")
    .option("--json", "print JSON: removed, kind (null when only a container login's copies were left), removedFiles")
    .action((ref: string, opts: { json?: boolean; set?: string }) => runCredsRm(f, ref, opts));
  return withExamples(creds, f.io, [
    ["every stored credential, never a secret", "authctl creds list"],
    ["one credential, and the account it belongs to (probed)", "authctl creds show gh --check"],
    ["remove one", "authctl creds rm anthropic --set ci"],
  ]);
}
