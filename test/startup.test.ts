import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers/env.js";
import { relativeTo, staticallyReachable } from "./helpers/imports.js";

describe("read-only commands stay light (SPEC §9)", () => {
  // main.ts only imports errors, io.js and program.js; program.js is what every command loads.
  const { files, packages } = staticallyReachable(join(REPO, "src/cli/program.ts"));
  const rel = [...files].map((f) => relativeTo(REPO, f));

  it("the CLI entry statically reaches the read-only commands", () => {
    expect(rel).toContain("src/cli/commands/creds.ts");
    expect(rel).toContain("src/store/store.ts");
  });

  it("does not load the context, login layer, engine, MSAL, the OS keyring or the roster parser (zod, yaml) until a command needs them", () => {
    // The keyring library loads only in the child process src/store/keyring.ts spawns to unlock a keyring store.
    const heavyFiles = rel.filter((f) => /^src\/(engine|logins|roster\/load|roster\/schema|context|store\/keyringChild)/.test(f));
    expect(heavyFiles).toEqual([]);
    for (const heavy of ["dockerode", "execa", "@azure/msal-node", "tmp-promise", "zod", "yaml", "@napi-rs/keyring"]) expect(packages).not.toContain(heavy);
  });
});
