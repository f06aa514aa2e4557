// The vendor API stand-in for `npm run bench:proxy`, in its own process so it never shares an
// event loop with the proxy or the clients. Tells its port over IPC.
//   /v1/messages        a small JSON answer (the request body is read and dropped)
//   /v1/stream?n=&gap=  n SSE events, gap ms apart, each stamped with the monotonic clock (ns)
//   /v1/bulk?n=&size=   n SSE events of `size` bytes, back to back (respecting backpressure)
import { createServer } from "node:http";

const REPLY = JSON.stringify({ id: "msg_bench", type: "message", content: [{ type: "text", text: "ok" }], usage: { input_tokens: 1, output_tokens: 1 } });

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://upstream");
  req.resume();
  req.on("end", () => {
    if (url.pathname === "/v1/messages") {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(REPLY) });
      return res.end(REPLY);
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    const n = Number(url.searchParams.get("n") ?? 10);
    if (url.pathname === "/v1/stream") {
      const gap = Number(url.searchParams.get("gap") ?? 5);
      let sent = 0;
      const tick = () => {
        res.write(`event: delta\ndata: {"t":"${process.hrtime.bigint()}"}\n\n`);
        if (++sent === n) res.end();
        else setTimeout(tick, gap);
      };
      return tick();
    }
    const event = `event: delta\ndata: ${"x".repeat(Math.max(0, Number(url.searchParams.get("size") ?? 1024) - 21))}\n\n`;
    let sent = 0;
    const pump = () => {
      while (sent < n) {
        sent++;
        if (!res.write(event)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
process.on("disconnect", () => process.exit(0));
