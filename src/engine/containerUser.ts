import { execFile, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Engine } from "./detect.js";

/** What the roster says about the image's login user. */
export interface ImageUser {
  /** The image's unprivileged user (rootless podman maps the caller onto it). */
  uid: number;
  /** Its HOME, given a private tmpfs when the container runs as another uid. */
  home: string;
}

/** Who a container authctl starts runs as, and who the host files it is handed must belong to. */
export interface ContainerUser {
  /** `<engine> run` flags: `--user`/`--userns`, and a writable HOME where the uid is not the image's. */
  args: string[];
  /** The uid (and gid) of mounted host dirs and files, or null when they stay the caller's. */
  owner: number | null;
}

/**
 * Past systemd's container range (524288–1879048191) and below the ids that read as negative:
 * a place where no distribution allocates accounts.
 */
export const SANDBOX_ID_BASE = 0x7000_0000;
const SANDBOX_ID_LIMIT = 0x7fff_ffff;

/** The files that say which ids belong to someone; injectable for tests. */
export interface IdDatabases {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
  /** Asks NSS (LDAP, sssd, …) too: true when `getent <db> <id>` finds it. */
  lookup?: (db: "passwd" | "group", id: number) => boolean;
}

const readOrEmpty = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

export const hostIdDatabases = (): IdDatabases => ({
  passwd: readOrEmpty("/etc/passwd"),
  group: readOrEmpty("/etc/group"),
  subuid: readOrEmpty("/etc/subuid"),
  subgid: readOrEmpty("/etc/subgid"),
  lookup: (db, id) => spawnSync("getent", [db, String(id)], { stdio: "ignore", timeout: 5_000 }).status === 0,
});

/**
 * Whether NSS knows `id` as an account and as a group (each getent exits 0), asked without
 * blocking. One shell runs both getents at once: forking node (tens of MB mapped) costs ~10-20 ms
 * of the main thread each time, forking a shell next to nothing. Anything but two statuses (no shell, a
 * timeout) counts as unknown to NSS, as a failed getent does.
 */
const nssKnows = (id: number) =>
  new Promise<{ passwd: boolean; group: boolean }>((resolve) =>
    execFile("/bin/sh", ["-c", 'getent passwd "$1" >/dev/null & p=$!; getent group "$1" >/dev/null; g=$?; wait "$p"; echo "$? $g"', "sh", String(id)], { timeout: 5_000 }, (err, stdout) => {
      const [passwd, group] = err ? [] : String(stdout).trim().split(" ");
      resolve({ passwd: passwd === "0", group: group === "0" });
    }),
  );

/**
 * hostIdDatabases with NSS already asked, both databases in one process, about the id `sandboxId`
 * tries first (the first one the files leave free): the caller starts it before its other waits
 * (the engine, the image) instead of spending getent processes one after the other on the way to
 * the container. Any further id is asked as `hostIdDatabases` asks.
 */
export function hostIdDatabasesAhead(): Promise<IdDatabases> {
  const started = early;
  early = undefined;
  return started && Date.now() - started.at < EARLY_LOOKUP_MS ? started.lookup : lookupAhead();
}

async function lookupAhead(): Promise<IdDatabases> {
  const db = hostIdDatabases();
  const first = sandboxId({ ...db, lookup: undefined });
  const known = await nssKnows(first);
  return { ...db, lookup: (name, id) => (id === first ? known[name] : db.lookup!(name, id)) };
}

/** How old a lookup started by `startHostIdLookup` may be when a login takes it. */
const EARLY_LOOKUP_MS = 30_000;
let early: { at: number; lookup: Promise<IdDatabases> } | undefined;

/**
 * Starts the lookup the next `hostIdDatabasesAhead` call takes (once, within 30 s): a CLI that
 * knows a container login follows starts it before loading the login layer and opening the store,
 * so the lookup runs alongside them rather than on the way to the container, and forks a smaller
 * process.
 */
export function startHostIdLookup(): void {
  const lookup = lookupAhead();
  lookup.catch(() => undefined);
  early = { at: Date.now(), lookup };
}

/** ids in the third field of passwd/group lines; [start, start+count) ranges of subuid/subgid lines. */
const listedIds = (text: string) => new Set(text.split("\n").map((line) => Number(line.split(":")[2])).filter(Number.isInteger));
const ranges = (text: string) =>
  text
    .split("\n")
    .map((line) => line.split(":").map(Number))
    .filter(([, start, count]) => Number.isInteger(start) && Number.isInteger(count))
    .map(([, start, count]) => [start!, start! + count!] as const);

/**
 * The first id at or above SANDBOX_ID_BASE that no account or group has and no subordinate range
 * (another user's rootless containers) covers, as uid and gid alike. Such a uid can be entered by
 * root alone, so nobody else reaches the container through `/proc/<pid>/root` or its environ.
 */
export function sandboxId(db: IdDatabases): number {
  const taken = new Set([...listedIds(db.passwd), ...listedIds(db.group)]);
  const subordinate = [...ranges(db.subuid), ...ranges(db.subgid)];
  for (let id = SANDBOX_ID_BASE; id <= SANDBOX_ID_LIMIT; ) {
    const covering = subordinate.find(([start, end]) => id >= start && id < end);
    if (covering) {
      id = covering[1];
      continue;
    }
    if (!taken.has(id) && !db.lookup?.("passwd", id) && !db.lookup?.("group", id)) return id;
    id++;
  }
  throw new Error(`no free id between ${SANDBOX_ID_BASE} and ${SANDBOX_ID_LIMIT} for authctl's containers`);
}

/**
 * A private, writable HOME for a uid the image does not know, empty on both engines: podman would
 * copy the image's home in (its dirs owned by the image's user, 0700 in the auth image), hiding the
 * mounts below them from the container's uid. podman refuses uid=/gid= but chowns to the container
 * user with U; docker takes uid=/gid= and never copies.
 */
function homeTmpfs(engine: Engine, home: string, uid: number, gid: number): string[] {
  const options = engine.name === "podman" ? "rw,exec,notmpcopyup,U" : `rw,exec,uid=${uid},gid=${gid},mode=0700`;
  return ["--tmpfs", `${home}:${options}`];
}

/**
 * Rootless engines: the container's uids are the caller's own or its subordinates, as before
 * (podman maps the caller onto the image's user; rootless docker runs it as the container's root).
 * Rootful engines map uids 1:1, so the image's user (uid 1000) would be whichever host account
 * has uid 1000: root runs the container as an unowned sandbox id instead, and any other caller
 * as itself (only it, and root, can then reach the container).
 */
export function containerUser(engine: Engine, image: ImageUser, callerUid: number | undefined, callerGid: number | undefined, db: () => IdDatabases = hostIdDatabases): ContainerUser {
  if (engine.rootless) {
    const args = engine.name === "podman" ? [`--userns=keep-id:uid=${image.uid},gid=${image.uid}`] : ["--user", "0:0"];
    return { args, owner: null };
  }
  if (callerUid === undefined) return { args: [], owner: null };
  if (callerUid !== 0) {
    const gid = callerGid ?? callerUid;
    return { args: ["--user", `${callerUid}:${gid}`, ...homeTmpfs(engine, image.home, callerUid, gid)], owner: null };
  }
  const id = sandboxId(db());
  return { args: ["--user", `${id}:${id}`, ...homeTmpfs(engine, image.home, id, id)], owner: id };
}

/** containerUser for this process. */
export const containerUserFor = (engine: Engine, image: ImageUser): ContainerUser => containerUser(engine, image, process.getuid?.(), process.getgid?.());
