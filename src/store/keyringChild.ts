/**
 * Runs in a child process (see keyring.ts): one keyring operation, asked on stdin as JSON,
 * answered on stdout as JSON. The secret travels only through these pipes, never argv.
 */
import { readFileSync } from "node:fs";

interface Request {
  op: "get" | "set";
  service: string;
  account: string;
  secret?: string;
}

const request = JSON.parse(readFileSync(0, "utf8")) as Request;
try {
  const { Entry } = await import("@napi-rs/keyring");
  // Pinned: unpinned, the library silently falls back to the kernel keyring, which forgets on reboot.
  const entry = new Entry(request.service, request.account, { linux: { store: "secret-service" } });
  if (request.op === "set") {
    entry.setPassword(request.secret!);
    process.stdout.write(JSON.stringify({ ok: true }));
  } else {
    process.stdout.write(JSON.stringify({ ok: true, secret: entry.getPassword() }));
  }
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: (err as Error).message }));
}
