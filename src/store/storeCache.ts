import type { CredentialStore } from "./store.js";

/**
 * Values read from the store, dropped as soon as anything is committed to it, by any process
 * (`CredentialStore.generation`): a repeat read costs one small query instead of a lookup and a
 * decryption, and a write elsewhere (a revocation, a refresh) is seen at the next read. Misses
 * (undefined) are never kept, so unknown keys cannot fill it; past `maxEntries` it starts over.
 */
export class StoreCache<T> {
  private seen: string | undefined;
  private readonly values = new Map<string, T>();

  constructor(
    private readonly store: () => CredentialStore,
    private readonly maxEntries = 4096,
  ) {}

  get(key: string, load: () => T | undefined): T | undefined {
    const generation = this.store().generation();
    if (generation !== this.seen) {
      this.values.clear();
      this.seen = generation;
    }
    const kept = this.values.get(key);
    if (kept !== undefined) return kept;
    const value = load();
    if (value === undefined) return undefined;
    if (this.values.size >= this.maxEntries) this.values.clear();
    this.values.set(key, value);
    return value;
  }

  clear(): void {
    this.values.clear();
    this.seen = undefined;
  }
}
