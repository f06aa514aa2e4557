import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../core/body.js";
import type { ProxyRoute } from "../roster/proxySchema.js";
import { decodedBody, responseHeaders, type Scrub, scrubText, sendJson } from "./forward.js";

export type ResponseRewrite = NonNullable<ProxyRoute["response_rewrites"]>[number];

/** Answers to rewrite are small JSON documents; anything bigger is refused rather than buffered. */
const MAX_REWRITE_BYTES = 1024 * 1024;

/** The rewrites that apply to this request (GET of an exact path, query aside). */
export function rewritesFor(route: ProxyRoute, method: string, url: string): ResponseRewrite[] {
  const path = url.split("?")[0];
  return method === "GET" ? (route.response_rewrites ?? []).filter((r) => r.path === path) : [];
}

function replaceFields(value: unknown, rewrites: ResponseRewrite[]): unknown {
  if (Array.isArray(value)) return value.map((v) => replaceFields(v, rewrites));
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const rewrite = rewrites.find((r) => r.field === key);
    out[key] = rewrite && typeof v === "string" ? rewrite.value : replaceFields(v, rewrites);
  }
  return out;
}

/**
 * Reads the upstream's JSON answer whole (decoded when compressed), applies the rewrites and sends
 * it uncompressed. An answer that cannot be rewritten is not passed on as it is: 502.
 */
export function sendRewritten(
  upstreamRes: IncomingMessage,
  res: ServerResponse,
  rewrites: ResponseRewrite[],
  scrub: Scrub | undefined,
  done: (status: number, bytes: number) => void,
): void {
  const status = upstreamRes.statusCode ?? 502;
  const fail = () => {
    upstreamRes.destroy();
    sendJson(res, 502, { error: { type: "authctl_proxy", message: "authctl proxy: the upstream's answer could not be rewritten" } });
    done(502, 0);
  };
  const body = decodedBody(upstreamRes);
  if (!body) return fail();
  void readBody(body, MAX_REWRITE_BYTES).then((raw) => {
    let text: string;
    try {
      text = scrubText(status < 300 ? JSON.stringify(replaceFields(JSON.parse(raw.toString("utf8")), rewrites)) : raw.toString("utf8"), scrub);
    } catch {
      return fail();
    }
    const headers = responseHeaders(upstreamRes.headers, scrub);
    delete headers["content-encoding"];
    headers["content-length"] = Buffer.byteLength(text);
    res.writeHead(status, scrubText(upstreamRes.statusMessage ?? "", scrub), headers);
    res.end(text);
    done(status, Buffer.byteLength(text));
  }, fail);
}
