// Where one phase of bench/proxy-ab.mjs spent the daemon's time, from its --cpu-prof profile:
//   BENCH_PROFILE=/tmp/prof node bench/proxy-ab.mjs <repoA> <repoB>
//   node bench/proxy-profile.mjs /tmp/prof A s256 [pattern,pattern,...]
// Only samples taken while the phase ran count. Prints the functions with the most self time,
// then the inclusive time of each pattern (a substring of "function file:line"; by default the
// proxy's stages: the server's parse of the request, the decision, the upstream request, the
// answer's reader, the scrubber, the audit line, GC and socket writes).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, label = "A", phase = "s256", patterns] = process.argv.slice(2);
if (!dir) throw new Error("usage: node bench/proxy-profile.mjs <BENCH_PROFILE dir> <A|B> <phase> [patterns]");
const file = readdirSync(join(dir, label)).find((f) => f.endsWith(".cpuprofile"));
const profile = JSON.parse(readFileSync(join(dir, label, file), "utf8"));
const windows = JSON.parse(readFileSync(join(dir, "windows.json"), "utf8"))[label][phase];
const stages = (patterns ?? "parserOnHeadersComplete,decide ,generation ,hashOf ,UpstreamRequest ,onData ,body ,scrubChunk ,release ,audit ,(garbage collector),writev").split(",");

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(dist|node_modules)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;

/** Self time (µs) per profile node, of the samples inside the phase's windows. */
const self = new Map();
let at = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0;
  if (windows.some(([from, to]) => at >= from && at <= to)) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self].filter(([id]) => name(byId.get(id)).startsWith("(idle)")).reduce((a, [, t]) => a + t, 0);
const line = (t, what) => `${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / (total - idle)).toFixed(1).padStart(5)}%  ${what}`;
console.log(`${label} ${phase}: ${((total - idle) / 1000).toFixed(0)} ms busy in ${(total / 1000).toFixed(0)} ms sampled (% of busy)`);

const selfByName = new Map();
for (const [id, t] of self) selfByName.set(name(byId.get(id)), (selfByName.get(name(byId.get(id))) ?? 0) + t);
for (const [what, t] of [...selfByName].filter(([n]) => !n.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(line(t, what));

console.log("inclusive:");
for (const stage of stages) {
  let t = 0;
  for (const [id, spent] of self) {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      if (name(byId.get(cur)).includes(stage)) {
        t += spent;
        break;
      }
    }
  }
  console.log(line(t, stage));
}
