import { EngineError } from "../core/errors.js";
import type { ContainerFilter, EngineBackend } from "./backend.js";
import { labelsOf } from "./labels.js";
import type { Engine } from "./detect.js";

interface Outcome {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Why it failed when it never ran (missing binary, timeout). */
  reason: string;
}

const NO_SUCH = /no such (container|image|object)|no container with name/i;

/** Loaded on first use: execa costs ~100 ms to import. */
async function run(engine: Engine, args: string[]): Promise<Outcome> {
  const { execa } = await import("execa");
  const r = await execa(engine.binary, args, { reject: false, stdin: "ignore", timeout: 60_000, env: engine.env, extendEnv: false });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), reason: r.shortMessage ?? "" };
}

function lastLine(o: Outcome): string {
  return o.stderr.trim().split("\n").at(-1) || o.reason;
}

/** The engine CLI via execa, for when no API socket answers. */
export function cliBackend(engine: Engine): EngineBackend {
  const { binary } = engine;
  const podman = engine.name === "podman";
  const failure = (what: string, o: Outcome) => new EngineError(`${binary} ${what}: ${lastLine(o)}`);

  /** podman has `container|image exists` (0 yes, 1 no, else error); docker: inspect + "No such". */
  const exists = async (kind: "container" | "image", ref: string): Promise<boolean> => {
    const o = await run(engine, podman ? [kind, "exists", ref] : [kind, "inspect", "--format", "{{.Id}}", ref]);
    if (o.exitCode === 0) return true;
    if (podman ? o.exitCode === 1 : o.exitCode !== undefined && NO_SUCH.test(o.stderr)) return false;
    throw failure(`${kind} ${podman ? "exists" : "inspect"} ${ref}`, o);
  };

  return {
    async removeContainer(name) {
      // podman: `-t 0` so a PID 1 that ignores SIGTERM does not cost 10 s. docker's `rm` rejects
      // `-t`; its `rm -f` kills at once on dockerd, but a docker CLI talking to podman's API waits
      // the 10 s there too: SIGKILL first (a missing or stopped container just fails this step).
      if (!podman) await run(engine, ["kill", "-s", "KILL", name]);
      const o = await run(engine, ["rm", "-f", ...(podman ? ["-t", "0"] : []), name]);
      if (o.exitCode !== 0 && !NO_SUCH.test(o.stderr)) throw failure(`rm -f ${name}`, o);
    },
    containerExists: (name) => exists("container", name),
    imageExists: (ref) => exists("image", ref),
    async imageLabels(ref) {
      // One process when the image is there (each engine process costs ~100 ms); only a failed
      // inspect asks whether the image is missing, by exit code rather than by the message.
      const o = await run(engine, ["image", "inspect", "--format", "{{json .Config.Labels}}", ref]);
      if (o.exitCode === 0) return labelsOf(JSON.parse(o.stdout.trim() || "null"));
      if (!(await exists("image", ref))) return undefined;
      throw failure(`image inspect ${ref}`, o);
    },
    async listContainers({ namePrefix, label }: ContainerFilter) {
      const o = await run(engine, ["ps", "-a", "--format", "{{.Names}}", ...(label ? ["--filter", `label=${label}`] : [])]);
      if (o.exitCode !== 0) throw failure("ps -a", o);
      return o.stdout
        .split("\n")
        .map((line) => line.split(",")[0]!.trim()) // docker joins link aliases with commas
        .filter((n) => n && (!namePrefix || n.startsWith(namePrefix)));
    },
  };
}
