import { UsageError } from "../core/errors.js";
import { readAllStdin } from "../ui/prompt.js";
import { messageOf } from "./exitCodes.js";
import { createFactory, type Factory } from "./factory.js";
import type { IOStreams } from "./io.js";

const OPERATIONS = ["get", "store", "erase", "list"] as const;
const USAGE = "Usage: docker-credential-authctl <get|store|erase|list|version> (docker runs it; see credHelpers in docker's config.json)";

async function answer(f: Factory, operation: string): Promise<void> {
  if (!(OPERATIONS as readonly string[]).includes(operation)) throw new UsageError(USAGE);
  // docker writes the server URL (get, erase) or a JSON object (store) and closes stdin; list sends nothing.
  const input = operation === "list" ? "" : await readAllStdin(f.io);
  const context = await f.context();
  const docker = await import("../helpers/dockerCredential.js");
  if (operation === "list") return void f.io.stdout.write(JSON.stringify(docker.dockerList(context)) + "\n");
  const { serviceGrant } = await import("../access/credentials.js");
  // Inside `authctl run` the service answers with the run's token; no store key is needed.
  if (!serviceGrant(context)) await f.unlockedStore();
  if (operation === "get") return void f.io.stdout.write(JSON.stringify(docker.dockerGet(context, input)) + "\n");
  if (operation === "store") return void docker.dockerStore(context, docker.parseDockerStore(input));
  docker.dockerErase(context, input);
}

/**
 * `docker-credential-authctl <get|store|erase|list>`, the program docker runs for a registry that
 * `credHelpers` (or `credsStore`) in its config.json gives to authctl. docker shows a helper's
 * stdout when it fails and knows "not found" only by its own message there, so every failure is
 * written to stdout, exit 1; a person running it by hand also gets the reason on stderr.
 */
export async function runDockerCredential(argv: readonly string[], io: IOStreams, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const operation = argv[0] ?? "";
  if (argv.length === 1 && (operation === "version" || operation === "--version")) {
    const { VERSION } = await import("./version.js");
    io.stdout.write(`docker-credential-authctl (authctl) ${VERSION}\n`);
    return 0;
  }
  const f = createFactory(io, signal);
  try {
    if (argv.length !== 1) throw new UsageError(USAGE);
    await answer(f, operation);
    return 0;
  } catch (error) {
    const { DockerCredentialsNotFoundError } = await import("../helpers/dockerCredential.js");
    io.stdout.write(`${messageOf(error) ?? String(error)}\n`);
    if (error instanceof DockerCredentialsNotFoundError) io.stderr.write(`authctl: ${error.detail}\n`);
    return 1;
  } finally {
    f.close();
  }
}
