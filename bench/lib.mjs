// Small timing helpers for the benchmarks: medians of interleaved runs, a machine note, a table.
import { cpus, totalmem } from "node:os";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

export async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs baseline and subject alternately (so drift and a busy neighbour hit both alike) after
 * one warm-up each, and returns both medians in ms.
 */
export async function compare(runs, baseline, subject) {
  const times = await interleaved(runs, () => time(baseline), () => time(subject));
  return { baseline: median(times.baseline), subject: median(times.subject) };
}

export function machine(engineBinary) {
  let engine = "none";
  try {
    engine = execFileSync(engineBinary, ["--version"], { encoding: "utf8" }).trim();
  } catch {}
  const cpu = cpus();
  return `${cpu[0]?.model ?? "cpu"} × ${cpu.length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${engine}`;
}

export function markdownTable(rows) {
  const header = ["figure", "baseline", "authctl", "ratio / result", "target", "met"];
  const lines = [header, header.map(() => "---"), ...rows];
  return lines.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** Prints the run's table (header, figures, notes) and writes it to `file`. */
export function writeReport(file, header, rows, notes) {
  const report = [header, "", markdownTable(rows), "", ...notes, ""].join("\n");
  console.log(report);
  writeFileSync(file, report);
}

export const ms = (v) => `${v.toFixed(v < 10 ? 2 : 0)} ms`;

/** The value below which `p` percent of `values` lie (nearest rank). */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Calls baseline and subject alternately `runs` times after one warm-up each and returns what each
 * call returned (a rate, a delay): for figures that are not simply the time a call takes.
 */
export async function interleaved(runs, baseline, subject) {
  await baseline();
  await subject();
  const b = [];
  const s = [];
  for (let i = 0; i < runs; i++) {
    b.push(await baseline());
    s.push(await subject());
  }
  return { baseline: b, subject: s };
}
