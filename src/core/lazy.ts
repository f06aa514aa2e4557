/**
 * An object built the first time anything reads it, standing in for it meanwhile: a zod schema
 * declared at module level (`export const Scope = lazy(() => z.strictObject(…))`) keeps its name,
 * its type and every caller (`Scope.parse`, `z.infer<typeof Scope>`, `Other.extend`), but a
 * command that never parses that input never builds it. Building the roster's schemas alone cost
 * a third of `node -e 0` on every command that read the roster.
 */
export function lazy<T extends object>(build: () => T): T {
  let built: T | undefined;
  const real = (): T => (built ??= build());
  return new Proxy({} as T, {
    get(_target, prop) {
      const target = real();
      const value: unknown = Reflect.get(target, prop, target);
      // Methods run on the built object, whose private state the proxy does not hold.
      return typeof value === "function" && prop !== "constructor" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set: (_target, prop, value) => Reflect.set(real(), prop, value),
    has: (_target, prop) => Reflect.has(real(), prop),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor(_target, prop) {
      const descriptor = Reflect.getOwnPropertyDescriptor(real(), prop);
      // The stand-in's own target lacks the property, so a proxy may only report it configurable.
      return descriptor && { ...descriptor, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}
