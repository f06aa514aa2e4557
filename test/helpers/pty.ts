import { execa, type ResultPromise } from "execa";

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface PtyRun {
  child: ResultPromise;
  /** Everything the pseudo-terminal printed so far (ANSI included). */
  output: () => string;
  /** Resolves once the output matches (or rejects after timeoutMs). */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  type: (text: string) => void;
}

/**
 * Runs argv under `script`, which gives it a pseudo-terminal even with no TTY (CI); the command
 * is exec'd so the script's child is the program itself (signals reach it directly).
 */
export function runInPty(argv: string[], env: Record<string, string>): PtyRun {
  const child = execa("script", ["-qefc", `exec ${argv.map(shellQuote).join(" ")}`, "/dev/null"], {
    env,
    extendEnv: false,
    reject: false,
    stdin: "pipe",
    all: true,
  });
  let text = "";
  child.all!.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const tick = () => {
        if (pattern.test(text)) return resolve();
        if (child.exitCode !== null) return reject(new Error(`exited before ${pattern}: ${text.slice(-500)}`));
        if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${pattern}: ${text.slice(-500)}`));
        setTimeout(tick, 25);
      };
      tick();
    });
  return { child, output: () => text, waitFor, type: (t) => void child.stdin!.write(t) };
}
