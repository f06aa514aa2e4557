import { relative } from "node:path";
import type { Env } from "../core/env.js";
import { assertSetName, DEFAULT_SET } from "../core/names.js";
import type { Roster } from "../roster/load.js";
import { findProjectFile, loadProjectFile, type ProjectFile } from "./projectFile.js";

/** Where a command's credential set came from, strongest first. */
export type SetSource = "flag" | "env" | "project" | "default";

export interface ResolvedSet {
  credentialSet: string;
  source: SetSource;
  /** The project file that applied, or that was found (its `require` and `env` hold whichever source named the set). */
  project?: ProjectFile;
}

/** What the resolver reads: an `Authctl` context has all three. */
export interface SetSources {
  env: Env;
  /** Where the nearest project file is looked for; none: no project file applies. */
  cwd?: string | undefined;
  roster(): Roster;
}

const loaded = new WeakMap<object, ProjectFile | null>();

/** The nearest project file from the context's cwd, read once per context. */
export function projectFileOf(sources: SetSources): ProjectFile | undefined {
  let project = loaded.get(sources);
  if (project === undefined) {
    const file = sources.cwd === undefined ? undefined : findProjectFile(sources.cwd);
    project = file ? loadProjectFile(file, sources.roster().list(), process.getuid?.()) : null;
    loaded.set(sources, project);
  }
  return project ?? undefined;
}

/**
 * THE credential set of a command: the flag, else `AUTHCTL_SET`, else the nearest project file's
 * `set`, else the default set. A flag or the variable wins before any project file is read, so
 * either gets past a file that is refused.
 */
export function resolveCredentialSet(sources: SetSources, flag?: string): ResolvedSet {
  if (flag !== undefined) return { credentialSet: assertSetName(flag), source: "flag" };
  if (sources.env.AUTHCTL_SET) return { credentialSet: assertSetName(sources.env.AUTHCTL_SET), source: "env" };
  const project = projectFileOf(sources);
  if (project?.set) return { credentialSet: project.set, source: "project", project };
  return { credentialSet: DEFAULT_SET, source: "default", ...(project ? { project } : {}) };
}

/** `work (from ./authctl.yaml)`: which source applied, as `status` says it. */
export function describeSet(resolved: ResolvedSet, cwd?: string): string {
  const from =
    resolved.source === "flag" ? "from --set"
    : resolved.source === "env" ? "from AUTHCTL_SET"
    : resolved.source === "project" ? `from ${shownPath(resolved.project!.file, cwd)}`
    : "the default";
  return `${resolved.credentialSet} (${from})`;
}

function shownPath(file: string, cwd: string | undefined): string {
  if (cwd === undefined) return file;
  const rel = relative(cwd, file);
  return rel.startsWith("..") ? rel : `./${rel}`;
}
