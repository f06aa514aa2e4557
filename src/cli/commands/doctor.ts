import { Command } from "commander";
import { assertImageReference } from "../../core/imageRef.js";
import { EXIT } from "../exitCodes.js";
import type { Factory } from "../factory.js";
import { out, printJson, stateColor } from "../io.js";

export interface DoctorOpts {
  image?: string;
  json?: boolean;
}

/** One line per check, `ok` or `FAIL` with the fix; exit 1 when any is broken. */
export async function runDoctor(f: Factory, opts: DoctorOpts): Promise<number> {
  if (opts.image !== undefined) assertImageReference(opts.image, "--image");
  const { doctor } = await import("../../access/doctor.js");
  const { describeStore } = await import("../../access/status.js");
  const context = await f.context();
  const checks = await doctor(context, opts.image === undefined ? {} : { image: opts.image });
  const healthy = checks.every((c) => c.ok);
  if (opts.json) printJson(f.io, { ok: healthy, store: describeStore(context.env, context.home), checks });
  else {
    const width = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) out(f.io, `${c.ok ? stateColor(f.io, "ok", "ok  ") : stateColor(f.io, "failed", "FAIL")}  ${c.name.padEnd(width)}  ${c.detail}${c.fix ? `; fix: ${c.fix}` : ""}`);
  }
  return healthy ? EXIT.ok : EXIT.error;
}

export function doctorCommand(f: Factory): Command {
  return new Command("doctor")
    .description("check the engine, the login image, the store and its key, the keyring, the daemon's sockets and the clock: each line ok or the fix (exit 1 when one is broken)")
    .option("--image <tag>", "check this login image instead of the one built from images/auth (as `auth --image`)")
    .option("--json", "print JSON: ok, store (backend, label), and checks (name, ok, detail, fix)")
    .action(async (opts: DoctorOpts) => {
      f.exitCode = await runDoctor(f, opts);
    });
}
