#!/usr/bin/env node
// `npm run docs`: writes docs/cli.md from the built command definitions (src/cli/reference.ts), so the
// reference and `--help` cannot drift; test/docs.test.ts fails when the file is stale.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const { cliReference } = await import("../dist/cli/reference.js");
const out = fileURLToPath(new URL("../docs/cli.md", import.meta.url));
writeFileSync(out, await cliReference());
console.log(`wrote ${out}`);
