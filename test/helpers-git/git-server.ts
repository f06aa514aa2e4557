import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const HTTP_BACKEND = "/usr/lib/git-core/git-http-backend";

export interface GitServer {
  port: number;
  /** Every Basic login the server was shown, accepted or not. */
  logins: { username: string; password: string; accepted: boolean }[];
  close(): Promise<void>;
}

/** Splits a CGI reply: its headers (`Status:` gives the code) and its body. */
function cgiReply(output: Buffer): { status: number; headers: [string, string][]; body: Buffer } {
  let end = output.indexOf("\r\n\r\n");
  let skip = 4;
  if (end === -1) [end, skip] = [output.indexOf("\n\n"), 2];
  const headers: [string, string][] = [];
  let status = 200;
  for (const line of output.subarray(0, end).toString("latin1").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
    else headers.push([name, value]);
  }
  return { status, headers, body: output.subarray(end + skip) };
}

/**
 * git's smart HTTP (clone, fetch, push) for the repositories under `root`: git's own
 * http-backend run as CGI behind Basic auth that takes only the passwords in `tokens`.
 */
export async function startGitServer(root: string, tokens: readonly string[]): Promise<GitServer> {
  const logins: GitServer["logins"] = [];
  const server: Server = createServer((req, res) => {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const [username = "", ...rest] = basic ? Buffer.from(basic, "base64").toString("utf8").split(":") : [];
    const password = rest.join(":");
    const accepted = basic !== undefined && tokens.includes(password);
    if (basic !== undefined) logins.push({ username, password, accepted });
    if (!accepted) {
      res.writeHead(401, { "www-authenticate": 'Basic realm="test git"', "content-type": "text/plain" });
      res.end("authentication required\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const backend = spawn(HTTP_BACKEND, [], {
      env: {
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REMOTE_USER: username,
        REMOTE_ADDR: "127.0.0.1",
        GATEWAY_INTERFACE: "CGI/1.1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        ...(req.headers["content-length"] ? { CONTENT_LENGTH: req.headers["content-length"] } : {}),
        ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
        ...(req.headers["git-protocol"] ? { HTTP_GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
      },
      stdio: ["pipe", "pipe", "inherit"],
    });
    const out: Buffer[] = [];
    backend.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    req.pipe(backend.stdin);
    backend.on("close", () => {
      const reply = cgiReply(Buffer.concat(out));
      res.writeHead(reply.status, Object.fromEntries(reply.headers));
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    logins,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
