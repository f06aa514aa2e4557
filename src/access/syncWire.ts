import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { ServiceError } from "../core/errors.js";
import { httpOptions, verifyServiceDir, type WireRequest, type WireResponse } from "./wire.js";

// A Unix socket cannot be read synchronously in Node, and `getCredentials` is synchronous: a
// worker does the one request while this thread waits on an Atomics cell. The worker's code is
// inline so it runs the same from src/ (tests) and dist/.
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { request } = require("node:http");
const { options, body, port, cell, timeoutMs } = workerData;
const finish = (message) => { port.postMessage(message); Atomics.store(cell, 0, 1); Atomics.notify(cell, 0); };
try {
const req = request({ ...options, timeout: timeoutMs }, (res) => {
  const chunks = [];
  res.on("data", (c) => chunks.push(c));
  res.on("end", () => finish({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
  res.on("error", (e) => finish({ error: e.code || e.message }));
});
req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
req.on("error", (e) => finish({ error: e.code || e.message }));
req.end(body);
} catch (e) { finish({ error: e.code || e.message }); }
`;

export function sendWireSync(request: WireRequest, timeoutMs = 10_000): WireResponse {
  // The worker cannot read the listener's uid (koffi stays in this thread): the directory rule alone decides here.
  verifyServiceDir(request.socketPath);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { options: httpOptions(request), body: request.body, port: port2, cell, timeoutMs },
    transferList: [port2],
    env: {},
    // The parent's flags (`--input-type=module`, loaders) must not change how this CommonJS source runs.
    execArgv: [],
  });
  try {
    if (Atomics.wait(cell, 0, 0, timeoutMs + 1_000) === "timed-out") throw new ServiceError(`the authctl service at ${request.socketPath} did not answer within ${timeoutMs} ms`);
    const message = receiveMessageOnPort(port1)?.message as (WireResponse & { error?: string }) | undefined;
    if (!message || message.error) {
      throw new ServiceError(`cannot reach the authctl service at ${request.socketPath} (${message?.error ?? "no answer"}): start it with \`authctl serve\``);
    }
    return message;
  } finally {
    port1.close();
    void worker.terminate();
  }
}
