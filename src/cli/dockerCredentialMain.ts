#!/usr/bin/env node
import { systemIO } from "./io.js";
import { runDockerCredential } from "./docker-credential.js";

// The `docker-credential-authctl` bin: docker runs it once per registry operation, with no terminal.
void runDockerCredential(process.argv.slice(2), systemIO()).then((code) => {
  process.exitCode = code;
});
