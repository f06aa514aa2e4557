import type { IncomingMessage, ServerResponse } from "node:http";
import { sse } from "./fake-upstream.js";

/** What the fake vendor APIs answer; the CLIs print it, so a test can see the round trip completed. */
export const REPLY_TEXT = "PROXY-ROUND-TRIP-OK";

/** Anthropic Messages API: an SSE stream when asked to stream, else one JSON message. */
export function anthropicMessages(req: IncomingMessage, res: ServerResponse, body: Buffer): boolean {
  if (!req.url?.startsWith("/v1/messages")) return false;
  const wantsStream = (() => {
    try {
      return Boolean((JSON.parse(body.toString()) as { stream?: boolean }).stream);
    } catch {
      return false;
    }
  })();
  const message = {
    id: "msg_fake",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-5",
    content: [] as unknown[],
    stop_reason: null as string | null,
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 1 },
  };
  if (!wantsStream) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ ...message, content: [{ type: "text", text: REPLY_TEXT }], stop_reason: "end_turn" }));
    return true;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.write(sse("message_start", { type: "message_start", message }));
  res.write(sse("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }));
  res.write(sse("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: REPLY_TEXT } }));
  res.write(sse("content_block_stop", { type: "content_block_stop", index: 0 }));
  res.write(sse("message_delta", { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 1 } }));
  res.end(sse("message_stop", { type: "message_stop" }));
  return true;
}

/** OpenAI Responses API (what Codex streams from POST …/responses). */
export function openaiResponses(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== "POST" || !req.url?.split("?")[0]!.endsWith("/responses")) return false;
  res.writeHead(200, { "content-type": "text/event-stream" });
  res.write(sse("response.created", { type: "response.created", response: { id: "resp_fake" } }));
  res.write(
    sse("response.output_item.done", {
      type: "response.output_item.done",
      item: { type: "message", role: "assistant", id: "msg_fake", content: [{ type: "output_text", text: REPLY_TEXT }] },
    }),
  );
  res.end(
    sse("response.completed", {
      type: "response.completed",
      response: { id: "resp_fake", usage: { input_tokens: 1, input_tokens_details: null, output_tokens: 1, output_tokens_details: null, total_tokens: 2 } },
    }),
  );
  return true;
}

/** Gemini API (`x-goog-api-key`): `:streamGenerateContent?alt=sse` as SSE, `:generateContent` as JSON, `:countTokens`. */
export function geminiGenerate(req: IncomingMessage, res: ServerResponse): boolean {
  const path = req.url?.split("?")[0] ?? "";
  if (req.method !== "POST" || !/^\/v1(beta)?\/models\/[^/]+:/.test(path)) return false;
  if (path.endsWith(":countTokens")) {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ totalTokens: 1 }));
    return true;
  }
  const reply = {
    candidates: [{ content: { role: "model", parts: [{ text: REPLY_TEXT }] }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
  };
  if (path.endsWith(":streamGenerateContent")) {
    res.writeHead(200, { "content-type": "text/event-stream" }).end(`data: ${JSON.stringify(reply)}\r\n\r\n`);
    return true;
  }
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(reply));
  return true;
}
