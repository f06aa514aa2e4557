// Baseline server for `npm run bench:serve`: bare node:http on a Unix socket answering every
// request with one fixed JSON body (about the size of a `get` answer). `node serve-baseline.mjs <socket>`
import { createServer } from "node:http";

const body = JSON.stringify({
  credential: { credentialSet: "bench", provider: "openai", kind: "api_key", preview: "sk-b…cdef", expiresAt: null, updatedAt: Date.now(), payload: { type: "api_key", key: "sk-bench-0123456789abcdef0123456789abcdef" } },
});
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body));
});
server.listen(process.argv[2], () => console.log("listening"));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
