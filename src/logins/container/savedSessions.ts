import * as z from "zod";
import type { Authctl } from "../../context.js";
import { PROVIDER_NAME, SET_NAME } from "../../core/names.js";
import { sessionStore, type SavedSessionEntry as Entry, type SavedSessionOf } from "../sessionStore.js";

export { STALE_SESSION_MS } from "../sessionStore.js";

/** Shapes authctl writes; anything else makes the file "damaged" (see session cleanup). */
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// eslint-disable-next-line no-control-regex
const PRINTABLE_ABSOLUTE_PATH = /^\/[^\u0000-\u001f\u007f-\u009f]*$/;

/** A prepared container login, as kept between `session prepare` and `session capture`. */
export const AuthSessionStateSchema = z.strictObject({
  provider: z.string().regex(PROVIDER_NAME),
  projectId: z.string().nullable(),
  credentialSet: z.string().regex(SET_NAME),
  exposeToken: z.boolean(),
  containerName: z.string().regex(CONTAINER_NAME),
  argv: z.array(z.string()),
  banner: z.string(),
  title: z.string(),
  authDir: z.string().regex(PRINTABLE_ABSOLUTE_PATH),
  mountsDir: z.string(),
});
export type AuthSessionState = z.infer<typeof AuthSessionStateSchema>;
export type SavedSession = SavedSessionOf<AuthSessionState>;
export type SavedSessionEntry = Entry<AuthSessionState>;

/** Prepared container sessions kept on disk for frontends in other languages (`authctl session …`), as `<id>.json`. */
const store = sessionStore(".json", AuthSessionStateSchema);

export const saveSession = (context: Authctl, state: AuthSessionState): SavedSession => store.save(context, state);
export const loadSession = (context: Authctl, id: string): SavedSession => store.load(context, id);
export const sessionExists = (context: Authctl, id: string): boolean => store.exists(context, id);
export const forgetSession = (context: Authctl, id: string): void => store.forget(context, id);
/** Every saved session file; the caller cleans the stale ones' containers and dirs. */
export const savedSessions = (context: Authctl, maxAgeMs?: number): SavedSessionEntry[] => store.list(context, maxAgeMs);
