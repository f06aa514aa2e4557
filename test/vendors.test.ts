import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { getCredentials } from "../src/access/credentials.js";
import { MissingCredentialsError } from "../src/core/errors.js";
import { apiKeyCommand } from "../src/logins/api-key/apiKeyCommand.js";
import { Authenticator } from "../src/logins/authenticator.js";
import { fixCommandFor } from "../src/roster/fixCommand.js";
import { loadRoster } from "../src/roster/load.js";
import { CredentialStore } from "../src/store/store.js";
import { ctxOf } from "./helpers/context.js";
import { authctl, canary, tempHome } from "./helpers/env.js";

/** Issue 7.4: vendor details settled with the real CLIs and docs/vendors.md, as the roster ships them. */
const roster = loadRoster();
const t = tempHome("authctl-vendors-");
afterAll(() => t.cleanup());

describe("Gemini's personal Google login is legacy", () => {
  it("the mode menu offers the API key first, and choosing the first entry asks for a key", async () => {
    const offered: string[][] = [];
    using store = CredentialStore.open({ home: t.home, env: {} });
    const key = canary("AIza");
    const result = await new Authenticator("gemini").run(null, {
      context: ctxOf(store, roster),
      image: async () => {
        throw new Error("the OAuth image must not be resolved when the API key is chosen");
      },
      ui: {
        show: () => {},
        choose: async (_question: string, options: string[]) => {
          offered.push(options);
          return 0;
        },
        promptSecret: async () => key,
      },
    });
    expect(offered).toEqual([["API key", "OAuth (container)"]]);
    expect(result).toMatchObject({ provider: "gemini", kind: "api_key" });
  });

  it("claude keeps OAuth first", async () => {
    const offered: string[][] = [];
    using store = CredentialStore.open({ home: t.home, env: {} });
    await new Authenticator("claude")
      .run(null, {
        context: ctxOf(store, roster),
        image: async () => {
          throw new Error("stop here");
        },
        ui: {
          show: () => {},
          choose: async (_q: string, options: string[]) => {
            offered.push(options);
            return 0;
          },
          promptSecret: async () => "",
        },
      })
      .catch(() => undefined);
    expect(offered[0]).toEqual(["OAuth (container)", "API key"]);
  });

  it("a missing gemini credential's fix command is `authctl key gemini` (library and CLI)", async () => {
    expect(fixCommandFor(roster.get("gemini"), "default")).toBe("authctl key gemini");
    expect(fixCommandFor(roster.get("gemini"), "ci")).toBe("authctl key gemini --set ci");
    expect(fixCommandFor(roster.get("claude"), "default")).toBe("authctl auth claude");
    using store = CredentialStore.open({ home: t.home, env: {} });
    let err: unknown;
    try {
      getCredentials("gemini", { context: ctxOf(store, roster), credentialSet: "nothing-here" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingCredentialsError);
    expect((err as MissingCredentialsError).fixCommand).toBe("authctl key gemini --set nothing-here");
  });
});

describe("roster: glab OAuth, opencode, qwen", () => {
  it("ship with their mounts and extractors", () => {
    expect(roster.get("glab").modes).toEqual(["api_key", "oauth"]);
    expect(roster.get("glab").oauth).toMatchObject({
      container_mount: "/home/dev/.config/glab-cli",
      capture: { extractor: "glab", files: [{ path: "config.yml", format: "yaml" }] },
    });
    expect(fixCommandFor(roster.get("glab"), "default")).toBe("authctl key glab");
    expect(roster.get("opencode").oauth).toMatchObject({ container_mount: "/home/dev/.local/share/opencode", capture: { extractor: "opencode" } });
    expect(roster.get("qwen").oauth).toMatchObject({ container_mount: "/home/dev/.qwen", capture: { extractor: "qwen" } });
  });

  it("Claude's onboarding state lives in the mounted dir: CLAUDE_CONFIG_DIR points there", () => {
    const claude = roster.get("claude").oauth!;
    expect(claude.extra_run_args).toEqual(["-e", `CLAUDE_CONFIG_DIR=${claude.container_mount}`]);
    expect(Object.keys(claude.post_capture_state)).toEqual([".claude.json"]);
  });
});

describe("Codex API key through the vendor's own `codex login --with-api-key`", () => {
  it("the key goes to the login command's stdin, never into argv", () => {
    const argv = apiKeyCommand(roster.get("codex").api_key!);
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(argv[2]).toContain(`printf '%s\\n' "$key" | 'codex' '-c' 'cli_auth_credentials_store="file"' 'login' '--with-api-key'`);
    expect(argv[2]).not.toContain("auth.json");
  });

  it("a roster api_key.config with both a login_command and a file template is refused, naming the field", async () => {
    const home = join(t.home, "..", "bad-config-home");
    mkdirSync(join(home, "agents"), { recursive: true });
    writeFileSync(
      join(home, "agents", "tool.yaml"),
      stringify({
        name: "tool",
        label: "Tool",
        kind: "tool",
        modes: ["api_key"],
        api_key: { env_var: "TOOL_KEY", config: { login_command: ["tool", "login"], config_path: "/x", printf_template: "%s", tool_name: "tool" } },
      }),
    );
    // `providers` goes on without the file (issue 21 item 9) and says which file and field; using it is refused with the same reason.
    const listed = await authctl(home, ["providers"]);
    expect(listed.stderr).toContain("skipped roster file");
    expect(listed.stderr).toContain("tool.yaml");
    expect(listed.stderr).toContain("login_command");
    expect(listed.stdout).not.toMatch(/^tool\s/m);
    const r = await authctl(home, ["key", "tool", "--stdin"], { input: "tool-key-0123456789" });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("tool.yaml");
    expect(r.stderr).toContain("login_command");
  });
});
