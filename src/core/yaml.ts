import { createRequire } from "node:module";
import type * as Yaml from "yaml";

let yaml: typeof Yaml | undefined;
/** yaml (250 kB) loads only when a YAML file is parsed: a command that reads none never pays for it. */
export function parseYaml(text: string): unknown {
  yaml ??= createRequire(import.meta.url)("yaml") as typeof Yaml;
  return yaml.parse(text, { logLevel: "error" });
}
