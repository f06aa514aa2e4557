/** An inspect reply's `Config.Labels` (null when an image has none) as plain string pairs. */
export function labelsOf(raw: unknown): Record<string, string> {
  if (!raw || typeof raw !== "object") return {};
  return Object.fromEntries(Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === "string"));
}
