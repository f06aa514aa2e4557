import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_REFILL_ENTRIES, RemoveTreeError, removeTree, unlinkBeneath } from "../../src/core/removeTree.js";
import { tempHome } from "../helpers/env.js";

/**
 * core/removeTree on what a container can leave in a tree it writes: symlinks to host paths (at the
 * top, inside, to files and to dirs), a FIFO, names that are not UTF-8, and a tree deeper than the
 * descriptors it keeps open. The races themselves run against real containers in revoke-race.test.ts.
 */
const t = tempHome("authctl-remove-tree-");
const root = join(t.home, "..");
afterAll(() => t.cleanup());

let n = 0;
/** A fresh dir under the test root, and a host dir with a file a symlink will point at. */
function arrange() {
  const base = join(root, `case-${n++}`);
  const host = join(base, "host");
  mkdirSync(host, { recursive: true });
  writeFileSync(join(host, "keep"), "host file\n");
  return { base, host, tree: join(base, "tree") };
}

describe("removeTree", () => {
  it("removes files, dirs, a FIFO and non-UTF-8 names; symlinks go, their targets stay", () => {
    const { host, tree } = arrange();
    mkdirSync(join(tree, "a", "b"), { recursive: true });
    writeFileSync(join(tree, "a", "b", "keep"), "tree file\n");
    symlinkSync(host, join(tree, "a", "to-dir"));
    symlinkSync(join(host, "keep"), join(tree, "a", "b", "to-file"));
    symlinkSync("/nonexistent", join(tree, "dangling"));
    execFileSync("mkfifo", [join(tree, "a", "fifo")]);
    const latin1 = Buffer.concat([Buffer.from(`${tree}/`), Buffer.from([0x66, 0xe9, 0xff])]);
    writeFileSync(latin1, "x");
    mkdirSync(Buffer.concat([latin1, Buffer.from("-dir")]));

    expect(removeTree(tree)).toBe(true);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(join(host, "keep"), "utf8")).toBe("host file\n");
  });

  it("a symlink in the tree's own place is unlinked, not followed", () => {
    const { host, tree } = arrange();
    symlinkSync(host, tree);
    expect(removeTree(tree)).toBe(true);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(join(host, "keep"), "utf8")).toBe("host file\n");
  });

  it("nothing there: false; a missing parent too", () => {
    const { base } = arrange();
    expect(removeTree(join(base, "nope"))).toBe(false);
    expect(removeTree(join(base, "nope", "deeper"))).toBe(false);
  });

  it("a tree 600 levels deep goes in full (what lies past the open descriptors is moved up, not left)", () => {
    const { tree } = arrange();
    const levels = Array.from({ length: 600 }, () => "d");
    mkdirSync(join(tree, ...levels), { recursive: true });
    for (let i = 0; i <= levels.length; i += 50) writeFileSync(join(tree, ...levels.slice(0, i), "f"), "x");
    expect(removeTree(tree)).toBe(true);
    expect(existsSync(tree)).toBe(false);
  });

  // What busy writers leave once their container has stopped (test/robustness/revoke-race.test.ts,
  // docker, once: the second `proxy revoke` refused a still tree of over 100,000 files).
  it("a tree of more entries than a removal allows once it sees the tree change, which nothing writes to, goes in one pass", () => {
    const { tree } = arrange();
    for (const dir of ["config", "config/nested"]) mkdirSync(join(tree, dir), { recursive: true });
    for (let i = 0; i < MAX_REFILL_ENTRIES + 500; i++) writeFileSync(join(tree, i % 2 ? "config" : "config/nested", `w-${i}`), "");
    expect(removeTree(tree)).toBe(true);
    expect(existsSync(tree)).toBe(false);
  }, 120_000);
});

describe("unlinkBeneath", () => {
  it("unlinks root/dir/file; a missing one is false", () => {
    const { tree } = arrange();
    mkdirSync(join(tree, "dir"), { recursive: true });
    writeFileSync(join(tree, "dir", "keep"), "copy\n");
    expect(unlinkBeneath(tree, ["dir", "keep"])).toBe(true);
    expect(existsSync(join(tree, "dir", "keep"))).toBe(false);
    expect(unlinkBeneath(tree, ["dir", "keep"])).toBe(false);
    expect(unlinkBeneath(tree, ["nodir", "keep"])).toBe(false);
  });

  it("refuses a symlink in a directory's place and leaves its target alone", () => {
    const { host, tree } = arrange();
    mkdirSync(tree);
    symlinkSync(host, join(tree, "dir"));
    expect(() => unlinkBeneath(tree, ["dir", "keep"])).toThrow(RemoveTreeError);
    expect(() => unlinkBeneath(tree, ["dir", "keep"])).toThrow(/tree\/dir: is not a real directory \(a symlink or a file is in its place\)/);
    expect(readFileSync(join(host, "keep"), "utf8")).toBe("host file\n");
    // The root itself is no symlink either.
    expect(() => unlinkBeneath(join(tree, "dir"), ["keep"])).toThrow(RemoveTreeError);
    expect(existsSync(join(host, "keep"))).toBe(true);
  });

  it("a symlink as the file is unlinked itself; a directory there is refused", () => {
    const { host, tree } = arrange();
    mkdirSync(join(tree, "sub"), { recursive: true });
    symlinkSync(join(host, "keep"), join(tree, "link"));
    expect(unlinkBeneath(tree, ["link"])).toBe(true);
    expect(existsSync(join(host, "keep"))).toBe(true);
    expect(() => unlinkBeneath(tree, ["sub"])).toThrow(/sub: is a directory, not a file/);
  });
});
