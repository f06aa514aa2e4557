/**
 * Which roster `extra_run_args` would open the host to a login container. A provider file is
 * often copied from elsewhere; a flag like `--env-host` or `-v /:/host` in it would hand the
 * container authctl's environment or the host's files, so such flags need the file to say
 * `allow_unsafe_run_args: true`. Nothing authctl ships needs one (they only set `-e NAME=value`).
 */

export interface UnsafeRunArg {
  /** Index in `extra_run_args` of the flag. */
  index: number;
  /** The flag as written, with its value when that is the next element. */
  shown: string;
  reason: string;
}

type Check = (value: string | undefined) => string | undefined;

const always =
  (reason: string): Check =>
  () =>
    reason;

/** A boolean flag: refused unless written `--flag=false`. */
const unlessFalse =
  (reason: string): Check =>
  (value) =>
    value === "false" ? undefined : reason;

function namespace(kind: string): Check {
  return (value) => {
    if (value === "host") return `shares the host's ${kind} namespace with the login container`;
    if (value?.startsWith("container:") || value?.startsWith("ns:")) return `joins another ${kind} namespace than the login container's own`;
    return undefined;
  };
}

const HOST_PATH = "mounts a host path into the login container";

/** `-v SRC:DST[:OPTS]`: a named or anonymous volume is the engine's; a path is the host's. */
const volume: Check = (value) => {
  if (value === undefined || !value.includes(":")) return undefined;
  const source = value.slice(0, value.indexOf(":"));
  return source.includes("/") || source.startsWith(".") || source.startsWith("~") ? HOST_PATH : undefined;
};

/** `--mount type=…,src=…,dst=…`: only volumes (by name) and tmpfs stay inside the engine. */
const mount: Check = (value) => {
  const fields = new Map((value ?? "").split(",").map((kv) => [kv.split("=")[0]!.trim(), kv.slice(kv.indexOf("=") + 1)] as const));
  const type = fields.get("type") ?? "volume";
  const source = fields.get("source") ?? fields.get("src") ?? "";
  if (type === "tmpfs" || (type === "volume" && !source.includes("/"))) return undefined;
  return HOST_PATH;
};

/** Long flags checked, and whether each takes a value (then `--flag value` or `--flag=value`). */
const LONG: Record<string, { takesValue: boolean; check: Check }> = {
  "--privileged": { takesValue: false, check: unlessFalse("gives the login container every capability and the host's devices") },
  "--env-host": { takesValue: false, check: unlessFalse("copies the engine's environment into the login container") },
  "--cap-add": { takesValue: true, check: always("gives the login container extra kernel capabilities") },
  "--security-opt": { takesValue: true, check: always("can switch off the login container's seccomp, SELinux or AppArmor confinement") },
  "--device": { takesValue: true, check: always("hands a host device to the login container") },
  "--device-cgroup-rule": { takesValue: true, check: always("lets the login container use host devices") },
  "--env-file": { takesValue: true, check: always("reads a host file into the login container's environment") },
  "--volumes-from": { takesValue: true, check: always("mounts another container's volumes into the login container") },
  "--volume": { takesValue: true, check: volume },
  "--mount": { takesValue: true, check: mount },
  "--pid": { takesValue: true, check: namespace("pid") },
  "--network": { takesValue: true, check: namespace("network") },
  "--net": { takesValue: true, check: namespace("network") },
  "--ipc": { takesValue: true, check: namespace("ipc") },
  "--uts": { takesValue: true, check: namespace("uts") },
  "--userns": { takesValue: true, check: namespace("user") },
  "--cgroupns": { takesValue: true, check: namespace("cgroup") },
};

/** Short flags of `<engine> run` that take a value: in a cluster like `-itv X`, the first one takes the rest. */
const SHORT_WITH_VALUE = new Set(["a", "c", "e", "h", "l", "m", "p", "u", "v", "w"]);

/** The first flag in `args` that opens the host to the container, if any. */
export function firstUnsafeRunArg(args: readonly string[]): UnsafeRunArg | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let check: Check | undefined;
    let value: string | undefined;
    let usesNext = false;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const flag = LONG[eq === -1 ? arg : arg.slice(0, eq)];
      if (!flag) continue;
      check = flag.check;
      if (eq !== -1) value = arg.slice(eq + 1);
      else if (flag.takesValue) [value, usesNext] = [args[i + 1], true];
    } else if (/^-[A-Za-z]/.test(arg)) {
      const letters = arg.slice(1);
      const at = [...letters].findIndex((l) => SHORT_WITH_VALUE.has(l));
      if (at === -1 || letters[at] !== "v") continue;
      check = volume;
      value = letters.slice(at + 1).replace(/^=/, "") || args[i + 1];
      usesNext = letters.length === at + 1;
    } else continue;
    const reason = check(value);
    if (reason) return { index: i, shown: usesNext && value !== undefined ? `${arg} ${value}` : arg, reason };
  }
  return undefined;
}
