import * as z from "zod";
import type { Authctl } from "../context.js";
import { sendWire } from "./client.js";
import { connectService } from "./connect.js";
import { decodeResponse } from "./wire.js";

/** The longest unlock session: a day, like a login session. */
export const MAX_UNLOCK_MS = 24 * 3600_000;

const KeyHex = z.string().regex(/^[0-9a-f]{64}$/, "must be the 32-byte store key in hex");
export const UnlockRequest = z.strictObject({ key: KeyHex, until: z.number().int().positive() });
export const UnlockResponse = z.strictObject({ ok: z.literal(true), until: z.number() });
export const SessionKeyResponse = z.strictObject({ key: KeyHex.nullable(), until: z.number().nullable() });
export const LockResponse = z.strictObject({ ok: z.literal(true), wasUnlocked: z.boolean() });

async function call<T>(socketPath: string, path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
  return decodeResponse(path, await sendWire({ socketPath, path, body: JSON.stringify(body) }), schema);
}

/** Hands the store key to this home's verified daemon until `until` (epoch ms). */
export async function unlockService(socketPath: string, key: Buffer, until: number): Promise<{ until: number }> {
  return call(socketPath, "/v1/session/unlock", { key: key.toString("hex"), until }, UnlockResponse);
}

/**
 * The key of a running unlock session from this home's daemon, verified first (a private
 * directory of the user's, served by the user's uid); undefined when no daemon or no session.
 */
export async function keyFromUnlockSession(context: Authctl): Promise<Buffer | undefined> {
  const connected = await connectService(context);
  if (!connected) return undefined;
  const { key } = await call(connected.socketPath, "/v1/session/key", {}, SessionKeyResponse);
  return key ? Buffer.from(key, "hex") : undefined;
}

/** Ends the unlock session of this home's daemon; false when none answers or none was open. */
export async function lockService(context: Authctl): Promise<boolean> {
  const connected = await connectService(context);
  if (!connected) return false;
  return (await call(connected.socketPath, "/v1/session/lock", {}, LockResponse)).wasUnlocked;
}
