import { loadRoster, type Roster } from "./roster/load.js";
import { authctlHome, storePaths } from "./core/paths.js";
import { CredentialStore } from "./store/store.js";

/**
 * What library entry points use when the caller passes no store or roster: the user's home
 * (`$AUTHCTL_HOME`), opened once per process so hot loops (10k `storeApiKey` calls) reuse it.
 */
export interface Deps {
  store?: CredentialStore;
  roster?: Roster;
}

const stores = new Map<string, CredentialStore>();
const rosters = new Map<string, Roster>();

export function defaultStore(env: NodeJS.ProcessEnv = process.env): CredentialStore {
  const home = authctlHome(env);
  let store = stores.get(home);
  if (!store) {
    store = CredentialStore.open({ home, env });
    stores.set(home, store);
  }
  return store;
}

export function defaultRoster(env: NodeJS.ProcessEnv = process.env): Roster {
  const home = authctlHome(env);
  let roster = rosters.get(home);
  if (!roster) {
    roster = loadRoster({ userDir: storePaths(home).userRoster });
    rosters.set(home, roster);
  }
  return roster;
}

export function resolveDeps(deps: Deps = {}): Required<Deps> {
  return { store: deps.store ?? defaultStore(), roster: deps.roster ?? defaultRoster() };
}
