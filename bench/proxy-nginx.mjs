// nginx (Debian's nginx-light or nginx package: `apt-get install nginx-light`) as the same
// header-injecting reverse proxy for `npm run bench:proxy`: it replaces the client's key header with
// the real key, as authctl's proxy does, keeps upstream connections alive and streams (no buffering,
// as an SSE deployment must). One worker process: authctl's proxy is one node process.
// Started as a plain foreground process with its own prefix, config, pid and logs in `dir`.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import net from "node:net";
import { join } from "node:path";

/** The nginx binary (BENCH_NGINX, on PATH or in /usr/sbin) and its version, or undefined (the bench then names what to install). */
export function findNginx() {
  for (const binary of [process.env.BENCH_NGINX, "nginx", "/usr/sbin/nginx"].filter(Boolean)) {
    // nginx -v prints its version on stderr.
    const probe = spawnSync(binary, ["-v"], { encoding: "utf8" });
    if (probe.status === 0) return { binary, version: probe.stderr.trim().replace(/^nginx version: /, "") };
  }
  return undefined;
}

async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForPort(port, child, deadlineMs = 10_000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode} before listening (see its error.log)`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${deadlineMs} ms`);
}

/**
 * Starts nginx in front of `upstream` (http://127.0.0.1:P), injecting `header: key`.
 * Returns its base URL, pid and a stop function.
 */
export async function startNginx(binary, dir, upstream, { header, key }) {
  const prefix = join(dir, "nginx");
  for (const sub of ["", "logs", "tmp"]) mkdirSync(join(prefix, sub), { recursive: true });
  const port = await freePort();
  const target = new URL(upstream);
  const config = `
${process.getuid?.() === 0 ? "user root root;" : ""}
worker_processes 1;
daemon off;
master_process on;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "logs/error.log")} warn;
events { worker_connections 4096; }
http {
  access_log ${join(prefix, "logs/access.log")};
  client_body_temp_path ${join(prefix, "tmp/body")};
  proxy_temp_path ${join(prefix, "tmp/proxy")};
  fastcgi_temp_path ${join(prefix, "tmp/fastcgi")};
  uwsgi_temp_path ${join(prefix, "tmp/uwsgi")};
  scgi_temp_path ${join(prefix, "tmp/scgi")};
  keepalive_requests 1000000;
  keepalive_timeout 30s;
  upstream vendor { server ${target.hostname}:${target.port}; keepalive 256; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://vendor;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${target.host};
      proxy_set_header ${header} "${key}";
      proxy_set_header Authorization "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`;
  const file = join(prefix, "nginx.conf");
  writeFileSync(file, config, { mode: 0o600 });
  const child = spawn(binary, ["-p", prefix, "-c", file], { stdio: ["ignore", "ignore", "inherit"] });
  await waitForPort(port, child);
  return {
    url: `http://127.0.0.1:${port}`,
    /** The worker's pid (the one that relays), for its CPU time. */
    worker: () => Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/)[0]),
    stop: () => child.exitCode === null && child.kill("SIGQUIT"),
  };
}
