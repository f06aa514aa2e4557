import { execa } from "execa";
import { childEnv, CLI } from "./env.js";

/**
 * For vendor CLIs run on the host: every non-local URL goes through a proxy address where nothing
 * listens, and their telemetry and update checks are off, so nothing they send leaves this machine.
 */
export const OFFLINE_CLIENT_ENV = {
  HTTPS_PROXY: "http://127.0.0.1:9",
  HTTP_PROXY: "http://127.0.0.1:9",
  ALL_PROXY: "http://127.0.0.1:9",
  https_proxy: "http://127.0.0.1:9",
  http_proxy: "http://127.0.0.1:9",
  NO_PROXY: "127.0.0.1,localhost",
  no_proxy: "127.0.0.1,localhost",
  DISABLE_AUTOUPDATER: "1",
  DISABLE_TELEMETRY: "1",
  DISABLE_ERROR_REPORTING: "1",
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  CODEX_DISABLE_UPDATE_CHECK: "1",
  NO_COLOR: "1",
};

/** What `authctl proxy serve --json` prints once it listens. */
export interface ProxyServeInfo {
  url: string | null;
  tlsUrl: string | null;
  proxySocket: string | null;
  caFile: string | null;
  auditLog: string;
}

/** Starts the built `authctl proxy serve … --json` for `home` and waits until it listens. */
export async function startProxyServe(home: string, listen: string[]): Promise<{ info: ProxyServeInfo; stop: () => Promise<void> }> {
  const server = execa("node", [CLI, "proxy", "serve", ...listen, "--json"], { env: childEnv(home), extendEnv: false, reject: false, stdin: "ignore" });
  const info = await new Promise<ProxyServeInfo>((resolve, reject) => {
    let text = "";
    server.stdout!.on("data", (d: Buffer) => {
      text += d.toString();
      const end = text.indexOf("}\n");
      if (end >= 0) resolve(JSON.parse(text.slice(0, end + 1)) as ProxyServeInfo);
    });
    void server.then((r) => reject(new Error(`proxy serve exited: ${String(r.stderr)}`)));
  });
  const stop = async () => {
    server.kill("SIGTERM");
    await server;
  };
  return { info, stop };
}
