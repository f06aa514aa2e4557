import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { readBody } from "./body.js";
import { HttpExchangeError } from "./errors.js";

/** An OAuth token endpoint's answer is a small JSON document: more is a broken or hostile server. */
export const TOKEN_RESPONSE_LIMIT = 1 << 20;

export interface HttpCall {
  /** A Unix socket (with `path`), or … */
  socketPath?: string;
  /** … an http(s) URL. */
  url?: string;
  /** The request path on the socket (default "/"). */
  path?: string;
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  /** The whole exchange, connect to the body's last byte: a peer that trickles an endless body is cut off too. */
  timeoutMs: number;
  /** The largest response body read. */
  maxBytes: number;
  signal?: AbortSignal;
  /** node:http's `createConnection`, for a connection verified before anything is sent (a socket's own by default). */
  createConnection?: RequestOptions["createConnection"];
  /** How the URL's host becomes the address dialled (a guard that checks it after resolution); TLS still verifies the name. */
  lookup?: RequestOptions["lookup"];
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * node:http's `createConnection` for a Unix socket: a request that brings its own connection skips
 * the agent, whose server name check (net.isIP) compiles V8's IPv6 pattern on first use, 10-30 ms
 * of a login's start on a 2-core machine. A Unix socket has no server name to check.
 */
export const unixConnection = (socketPath: string) => () => connect(socketPath);

/**
 * One HTTP exchange, bounded in time and in what it reads. A timeout or an oversized body is an
 * `HttpExchangeError` (its `reason` says which); connection errors and aborts reject as node:http
 * gives them (their `code`), for the caller to name the peer and the fix.
 */
export function httpCall(call: HttpCall): Promise<HttpReply> {
  const { url, socketPath, timeoutMs, maxBytes } = call;
  const peer = url ?? `${socketPath}${call.path ?? "/"}`;
  const headers = { ...(call.body === undefined ? {} : { "content-length": Buffer.byteLength(call.body) }), ...call.headers };
  const createConnection = call.createConnection ?? (url === undefined && socketPath !== undefined ? unixConnection(socketPath) : undefined);
  const options: RequestOptions = { method: call.method ?? "GET", headers, signal: call.signal, createConnection, ...(call.lookup ? { lookup: call.lookup } : {}) };
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const onResponse = (res: import("node:http").IncomingMessage) => {
      readBody(res, maxBytes, (max) => new HttpExchangeError("too_large", `${peer} answered with a body over ${max} bytes; it was not read further`)).then(
        (body) => settle(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.toString("utf8") })),
        (error: unknown) => settle(() => reject(error)),
      );
    };
    const req = url
      ? (url.startsWith("https:") ? httpsRequest : httpRequest)(url, options, onResponse)
      : httpRequest({ ...options, socketPath, path: call.path ?? "/" }, onResponse);
    const timer = setTimeout(() => {
      settle(() => reject(new HttpExchangeError("timeout", `${peer} did not answer within ${timeoutMs} ms`)));
      req.destroy();
    }, timeoutMs);
    req.on("error", (error) => settle(() => reject(error)));
    req.end(call.body);
  });
}
