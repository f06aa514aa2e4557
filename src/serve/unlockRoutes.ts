import { LockResponse, MAX_UNLOCK_MS, SessionKeyResponse, UnlockRequest, UnlockResponse } from "../access/unlockSession.js";
import { EmptyRequest } from "../access/protocol.js";
import type { z } from "zod";
import { HttpFailure } from "./failure.js";
import type { ServiceServer, ServiceServerOptions } from "./server.js";

/**
 * The unlock session: the derived key of a passphrase store, held by this daemon in memory only,
 * until its deadline, `authctl lock` or the daemon's exit. Every caller has already passed the
 * server's uid check; with that check off (containers whose users map to other uids) there is no
 * session at all, since the key would then go to whoever reaches the socket.
 */
export function mountUnlockRoutes(service: ServiceServer, options: ServiceServerOptions): void {
  const { context } = options;
  let until: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const end = () => {
    const was = until !== undefined;
    if (timer) clearTimeout(timer);
    timer = undefined;
    until = undefined;
    if (was) context.store().lock();
    return was;
  };
  const requireUidCheck = () => {
    if (!service.peerCheck.enabled) throw new HttpFailure(403, "forbidden", `unlock sessions need the callers' uid check, which is off here (${service.peerCheck.reason})`);
  };
  const active = () => until !== undefined && context.clock.now() < until;

  service.route<z.infer<typeof UnlockRequest>>("/v1/session/unlock", {
    schema: UnlockRequest,
    handle: ({ body, setTarget }): z.infer<typeof UnlockResponse> => {
      setTarget("store key");
      requireUidCheck();
      const now = context.clock.now();
      if (body.until <= now || body.until - now > MAX_UNLOCK_MS) throw new HttpFailure(400, "bad_request", `an unlock session lasts between now and ${MAX_UNLOCK_MS / 3600_000} h`);
      const key = Buffer.from(body.key, "hex");
      end();
      // The key is checked against the store like a passphrase: a wrong one is refused, nothing held.
      context.store().unlockWithKey(key);
      key.fill(0);
      until = body.until;
      timer = setTimeout(end, until - now);
      timer.unref();
      return { ok: true, until };
    },
  });

  service.route("/v1/session/key", {
    schema: EmptyRequest,
    handle: ({ caller, setTarget }): z.infer<typeof SessionKeyResponse> => {
      setTarget("store key");
      requireUidCheck();
      if (caller.kind === "token") throw new HttpFailure(403, "forbidden", "a capability token grants credentials, never the store key");
      if (!active()) {
        end();
        return { key: null, until: null };
      }
      return { key: context.store().unlockedKey!.toString("hex"), until: until! };
    },
  });

  service.route("/v1/session/lock", {
    schema: EmptyRequest,
    handle: ({ setTarget }): z.infer<typeof LockResponse> => {
      setTarget("store key");
      return { ok: true, wasUnlocked: end() };
    },
  });
}
