#!/usr/bin/env node
import { VERSION } from "./version.js";

// Scripts ask for the version often: it is answered before any other module loads (the bundle
// keeps this file apart from start.js and what it imports).
const argv = process.argv.slice(2);
if (argv.length === 1 && ["--version", "-V", "-v", "version"].includes(argv[0]!)) process.stdout.write(`${VERSION}\n`);
else {
  void answeredByService(argv).then(async (fast) => {
    if (!fast.answered) await (await import("./start.js")).start(argv, fast.io);
  });
}

/** `token` and `git-credential get` answered by this home's running service, before start.js and all it loads. */
async function answeredByService(argv: string[]) {
  if (argv[0] !== "token" && argv[0] !== "git-credential") return { answered: false as const, io: undefined };
  return (await import("./serviceAnswer.js")).answerFromSystem(argv);
}
