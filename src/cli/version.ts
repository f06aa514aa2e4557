/** The one version string: `--version`, `version` and the fast path in main.ts print it. */
export const VERSION = "0.1.0";
