// `npm run build`, after tsc: validates the shipped roster (resources/agents/*.yaml) once and
// writes it beside the built loader, so a command that needs the roster reads one JSON file
// instead of parsing YAML and validating it on every start (src/roster/load.ts checks the digest).
import { writeFileSync } from "node:fs";
import { COMPILED_ROSTER_FILE, compileBuiltinRoster } from "../dist/roster/load.js";

writeFileSync(COMPILED_ROSTER_FILE, JSON.stringify(compileBuiltinRoster()));
