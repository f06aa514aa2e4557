#!/usr/bin/env node
import { systemIO } from "./io.js";
import { runCli } from "./program.js";

const code = await runCli(process.argv.slice(2), systemIO());
process.exitCode = code;
