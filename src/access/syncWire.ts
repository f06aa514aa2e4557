import { MessageChannel, receiveMessageOnPort, Worker } from "node:worker_threads";
import { ServiceError } from "../core/errors.js";
import { httpOptions, verifyServiceDir, WIRE_LIMITS, type WireRequest, type WireResponse } from "./wire.js";

// A Unix socket cannot be read synchronously in Node, and `getCredentials` is synchronous: a
// worker does the request while this thread waits on an Atomics cell. One worker serves the
// whole process (starting one costs more than the request), unref'd so it never keeps the process
// alive. Its code is inline so it runs the same from src/ (tests) and dist/.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { request } = require("node:http");
parentPort.on("message", ({ options, body, reply, cell, maxBytes }) => {
  let done = false;
  const finish = (message) => {
    if (done) return;
    done = true;
    reply.postMessage(message);
    reply.close();
    Atomics.store(cell, 0, 1);
    Atomics.notify(cell, 0);
  };
  try {
    const req = request(options, (res) => {
      const chunks = [];
      let size = 0;
      res.on("data", (c) => {
        size += c.length;
        if (size <= maxBytes) return void chunks.push(c);
        finish({ error: "an answer over " + maxBytes + " bytes" });
        res.destroy();
      });
      res.on("end", () => finish({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => finish({ error: e.code || e.message }));
    });
    req.on("error", (e) => finish({ error: e.code || e.message }));
    req.end(body);
  } catch (e) {
    finish({ error: e.code || e.message });
  }
});
`;

let shared: Worker | undefined;

function wireWorker(): Worker {
  if (!shared) {
    shared = new Worker(WORKER_SOURCE, {
      eval: true,
      env: {},
      // The parent's flags (`--input-type=module`, loaders) must not change how this CommonJS source runs.
      execArgv: [],
    });
    shared.unref();
  }
  return shared;
}

/** Drops the worker (it stays stuck on a request that never ended); the next call starts another. */
function discardWorker(): void {
  void shared?.terminate();
  shared = undefined;
}

export function sendWireSync(request: WireRequest, timeoutMs = 10_000): WireResponse {
  // The worker cannot read the listener's uid (koffi stays in this thread): the directory rule alone decides here.
  verifyServiceDir(request.socketPath);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const { body, ...options } = httpOptions(request);
  try {
    wireWorker().postMessage({ options, body, reply: port2, cell, maxBytes: WIRE_LIMITS.maxBytes }, [port2]);
    if (Atomics.wait(cell, 0, 0, timeoutMs) === "timed-out") {
      discardWorker();
      throw new ServiceError(`the authctl service at ${request.socketPath} did not answer within ${timeoutMs} ms`);
    }
    const message = receiveMessageOnPort(port1)?.message as (WireResponse & { error?: string }) | undefined;
    if (!message || message.error) {
      throw new ServiceError(`cannot reach the authctl service at ${request.socketPath} (${message?.error ?? "no answer"}): start it with \`authctl serve\``);
    }
    return message;
  } finally {
    port1.close();
  }
}
