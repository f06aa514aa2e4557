// `npm run bench:host`: the host-login figures of issue 8, each against a baseline measured in the
// same run. Numbers are reported, never asserted.
//  - a silent Microsoft token from the stored MSAL cache in a warm process (target ≤ 5 ms median);
//  - `authctl status` with 1,000 credentials vs `node -e 0` (target ≤ 1.3×; MSAL and Google never load).
import { createServer } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { stringify } from "yaml";
import { Authctl, buildMsalApp, prepareHostLogin } from "../dist/index.js";
import { compare, machine, markdownTable, median, ms, time } from "./lib.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
// What `npm link` puts on the PATH (the bundle), so a change of the bin is measured too.
const CLI = join(REPO, JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).bin.authctl);
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const scratch = mkdtempSync(join(tmpdir(), "authctl-bench-host-"));

/** Just enough of a Microsoft authority for one device-code login (approved at the first poll). */
async function fakeAuthority() {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const server = createServer((req, res) => {
    const json = (body) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url.endsWith("/devicecode")) return json({ device_code: "d", user_code: "U", verification_uri: "http://x/device", expires_in: 900, interval: 1, message: "m" });
    const now = Math.floor(Date.now() / 1000);
    json({
      token_type: "Bearer", access_token: "bench-access-token", refresh_token: "bench-refresh-token", expires_in: 3600, scope: "User.Read",
      id_token: `${b64({ alg: "none" })}.${b64({ aud: "c", iss: "https://login.bench.test/t/v2.0", oid: "o", tid: "t", preferred_username: "bench@x", iat: now, exp: now + 3600 })}.`,
      client_info: b64({ uid: "o", utid: "t" }),
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, base: `http://127.0.0.1:${server.address().port}/t` };
}

async function silentMsal() {
  const { server, base } = await fakeAuthority();
  const home = join(scratch, "msal");
  mkdirSync(join(home, "agents"), { recursive: true, mode: 0o700 });
  const metadata = { issuer: "https://login.bench.test/t/v2.0", authorization_endpoint: `${base}/oauth2/v2.0/authorize`, token_endpoint: `${base}/oauth2/v2.0/token`, device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`, jwks_uri: `${base}/keys`, end_session_endpoint: `${base}/logout` };
  writeFileSync(join(home, "agents/msgraph.yaml"), stringify({ name: "msgraph", label: "Microsoft Graph", kind: "service", modes: ["oauth"], host_flow: { flow: "msal_device_code", client_id: "c", tenant_id: "t", scopes: ["User.Read"], authority_host: "login.bench.test", authority_metadata: metadata } }));
  const context = new Authctl({ env: { ...process.env, AUTHCTL_HOME: home }, home });
  await (await prepareHostLogin("msgraph", { context })).capture();
  server.close();
  const app = await buildMsalApp("default", { context });
  const [account] = await app.getTokenCache().getAllAccounts();
  const silent = () => app.acquireTokenSilent({ account, scopes: ["User.Read"] });
  await silent();
  const times = [];
  for (let i = 0; i < RUNS * 10; i++) times.push(await time(silent));
  context.close();
  const m = median(times);
  return ["silent Microsoft token from the stored MSAL cache, warm process", "-", ms(m), `${ms(m)} median`, "≤ 5 ms", m <= 5 ? "yes" : "**no**"];
}

async function status() {
  const home = join(scratch, "status");
  const context = new Authctl({ env: { ...process.env, AUTHCTL_HOME: home }, home });
  const store = context.store();
  store.putMany(Array.from({ length: 1000 }, (_, i) => ({ credentialSet: `s${i % 10}`, provider: `p${i}`, kind: "api_key", payload: { key: `k${i}` }, preview: "****" })));
  context.close();
  const env = { ...process.env, AUTHCTL_HOME: home };
  const { baseline, subject } = await compare(RUNS * 2, () => execa("node", ["-e", "0"]), () => execa("node", [CLI, "status"], { env }));
  const ratio = subject / baseline;
  return ["`authctl status` (1,000 credentials) vs `node -e 0`", ms(baseline), ms(subject), `${ratio.toFixed(3)}×`, "≤ 1.3×", ratio <= 1.3 ? "yes" : "**no**"];
}

try {
  const rows = [await silentMsal(), await status()];
  console.log(`Machine: ${machine("podman")}. Medians of ${RUNS} interleaved runs (silent token: ${RUNS * 10}).\n`);
  console.log(markdownTable(rows));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
