// authctl agent forwarder: 127.0.0.1:$AUTHCTL_PROXY_PORT -> the credential proxy's Unix socket
// ($AUTHCTL_PROXY_SOCKET), for vendor CLIs that only take a TCP base URL. Plain node, no
// dependencies: `authctl container-args` mounts it at /opt/authctl/forward.mjs. With arguments it
// starts them once listening and exits with their status (an entrypoint wrapper); without, it
// forwards until stopped. It carries no secrets: only phantom tokens pass through it.
import net from "node:net";
import { spawn } from "node:child_process";
import { constants } from "node:os";

const socketPath = process.env.AUTHCTL_PROXY_SOCKET;
const port = Number(process.env.AUTHCTL_PROXY_PORT);
if (!socketPath || !Number.isInteger(port)) {
  console.error("authctl forwarder: AUTHCTL_PROXY_SOCKET and AUTHCTL_PROXY_PORT must be set (see authctl container-args)");
  process.exit(2);
}
const server = net.createServer((client) => {
  const proxy = net.connect(socketPath);
  const close = () => { client.destroy(); proxy.destroy(); };
  client.on("error", close);
  proxy.on("error", close);
  client.pipe(proxy).pipe(client);
});
server.on("error", (error) => {
  console.error("authctl forwarder: cannot listen on 127.0.0.1:" + port + ": " + error.message);
  process.exit(2);
});
const command = process.argv.slice(2);
server.listen(port, "127.0.0.1", () => {
  if (command.length === 0) return;
  const child = spawn(command[0], command.slice(1), { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("error", (error) => {
    console.error("authctl forwarder: cannot start " + command[0] + ": " + error.message);
    process.exit(127);
  });
  child.on("exit", (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
});
