import { Readable } from "node:stream";
import { secretFromService, gitFieldsFromService, type ServiceReadOptions } from "../access/serviceRead.js";
import { systemClock } from "../core/clock.js";
import { authctlHome } from "../core/paths.js";
import { formatCredentialResponse, parseCredentialRequest, readCredentialRequest } from "../helpers/gitCredential.js";
import { err, quietOnClosedPipe, systemIO, type IOStreams } from "./io.js";
import { printToken } from "./tokenOutput.js";

/**
 * `token` and `git-credential get`, the commands scripts, git and agents call most, answered by this
 * home's running service before commander, the store or the roster load. Only plain command lines
 * are taken here (no help, no unknown option, no `--`); anything else, and any answer the service
 * cannot give, goes to the commands themselves, which read the store as before: same output, same
 * exit codes, same errors.
 */
export async function answerFromService(argv: string[], io: IOStreams): Promise<{ answered: true } | { answered: false; io: IOStreams }> {
  const [command, ...rest] = argv;
  const parsed = command === "token" || command === "git-credential" ? parseLine(rest, command === "token" ? ["--set"] : ["--set", "--provider", "--host"], command === "token" ? ["--json"] : []) : undefined;
  if (!parsed || parsed.positional.length !== 1) return { answered: false, io };
  const options = readOptions(io);
  const set = parsed.values.get("--set");
  if (command === "token") {
    const served = await secretFromService(options, parsed.positional[0]!, set);
    if (!served) return { answered: false, io };
    printToken(io, parsed.flags.has("--json"), { ...served, expiresAt: served.expiresAt === null ? null : new Date(served.expiresAt) });
    return { answered: true };
  }
  const [provider, host] = [parsed.values.get("--provider"), parsed.values.get("--host")];
  // A person typing a request, or a command line the command refuses: the command itself answers.
  if (parsed.positional[0] !== "get" || (host && !provider) || io.stdin.isTTY) return { answered: false, io };
  let text: string;
  try {
    text = await readCredentialRequest(io.stdin);
  } catch {
    return { answered: false, io };
  }
  // stdin was read here: the command reads the same request again if the service does not answer.
  const again: IOStreams = { ...io, stdin: Readable.from([Buffer.from(text)]) };
  let request: Map<string, string>;
  try {
    request = parseCredentialRequest(text);
  } catch {
    return { answered: false, io: again };
  }
  const query = { ...(provider ? { provider } : {}), ...(host ? { host } : {}), ...(set ? { credentialSet: set } : {}) };
  const fields = await gitFieldsFromService(options, request, query);
  if (!fields) return { answered: false, io: again };
  try {
    io.stdout.write(formatCredentialResponse(fields));
  } catch {
    return { answered: false, io: again };
  }
  return { answered: true };
}

/** The entry's call: this process's streams (main.ts, before start.js). */
export function answerFromSystem(argv: string[]): ReturnType<typeof answerFromService> {
  quietOnClosedPipe();
  return answerFromService(argv, systemIO());
}

function readOptions(io: IOStreams): ServiceReadOptions {
  const { env, cwd } = io;
  return { env, home: authctlHome(env), cwd, clock: systemClock, onUntrusted: (error) => err(io, `authctl: ${error.message}; reading the store directly`) };
}

/**
 * A command line of `--name value`, `--name=value` and bare flags in any order around positionals,
 * as commander reads it; undefined for anything else (help, a repeated or unknown option, `--`, a
 * value that looks like an option), which commander then parses and answers itself.
 */
function parseLine(args: string[], valued: string[], bare: string[]): { positional: string[]; values: Map<string, string>; flags: Set<string> } | undefined {
  const positional: string[] = [];
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (valued.includes(name) && !values.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || value === "" || value.startsWith("-")) return undefined;
      values.set(name, value);
    } else if (bare.includes(arg) && !flags.has(arg)) flags.add(arg);
    else return undefined;
  }
  return { positional, values, flags };
}
