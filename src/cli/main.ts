#!/usr/bin/env node
import { VERSION } from "./version.js";

// Scripts ask for the version often: it is answered before any other module loads (the bundle
// keeps this file apart from start.js and what it imports).
const argv = process.argv.slice(2);
if (argv.length === 1 && ["--version", "-V", "-v", "version"].includes(argv[0]!)) process.stdout.write(`${VERSION}\n`);
else void import("./start.js").then(({ start }) => start(argv));
