import { printJson, type IOStreams } from "./io.js";

/**
 * `token`'s output, whoever read the secret: the running service (serviceAnswer.ts) or the command
 * reading the store. A file of its own so the command loads none of the service's client.
 */
export function printToken(io: IOStreams, json: boolean | undefined, found: { credentialSet: string; provider: string; kind: string; secret: string; expiresAt: Date | null }): void {
  if (json) {
    const { credentialSet, kind, secret, expiresAt } = found;
    return printJson(io, { credentialSet, provider: found.provider, kind, token: secret, expiresAt: expiresAt?.toISOString() ?? null });
  }
  io.stdout.write(`${found.secret}\n`);
}
