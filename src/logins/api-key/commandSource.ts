import { runSecretCommand, describeCommand, type CommandSourcePayload } from "../../access/commandSource.js";
import { contextFrom, type WithContext } from "../../context.js";
import { UsageError } from "../../core/errors.js";
import { assertSetName, DEFAULT_SET } from "../../core/names.js";
import { SourceSchema } from "../../roster/sourceSchema.js";
import type { StoredSummary } from "./apiKey.js";

export interface StoreCommandSourceOptions extends WithContext {
  credentialSet?: string;
  timeoutMs?: number;
}

/**
 * Stores a `command` credential: the argv of a command that prints the secret (`vault kv get …`,
 * `op read …`), run once now to prove it works; only the argv is stored, never what it prints.
 */
export function storeCommandSource(provider: string, command: readonly string[], options: StoreCommandSourceOptions = {}): StoredSummary {
  const context = contextFrom(options);
  const credentialSet = assertSetName(options.credentialSet ?? DEFAULT_SET);
  const entry = context.roster().get(provider);
  const parsed = SourceSchema.safeParse({ command, ...(options.timeoutMs === undefined ? {} : { timeout_ms: options.timeoutMs }) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${entry.name}: the secret command's ${issue.path.join(".") || "argv"} ${issue.message}`);
  }
  runSecretCommand(context, entry.name, parsed.data);
  const payload: CommandSourcePayload = { type: "command", command: parsed.data.command, timeout_ms: parsed.data.timeout_ms };
  const preview = `$(${describeCommand(payload.command).slice(0, 40)})`;
  context.store().put(credentialSet, entry.name, "command", payload, { preview, expiresAt: null });
  context.store().audit("stored", credentialSet, entry.name, "command");
  return { provider: entry.name, credentialSet, kind: "command", preview, expiresAt: null };
}
