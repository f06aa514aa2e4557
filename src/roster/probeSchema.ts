import * as z from "zod";
import { lazy } from "../core/lazy.js";

const dottedField = lazy(() => z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be a dotted field path (account.email)"));

/**
 * `status --check`'s live probe of one mode's credential: the vendor's cheapest authenticated GET.
 * The upstream and the credential header default to the mode's proxy route, so a user roster file
 * that moves the upstream moves the probe with it.
 */
export const ProbeSchema = lazy(() => z.strictObject({
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  header: z.enum(["authorization", "x-api-key", "x-goog-api-key"]).optional(),
  path: z.string().refine((p) => p.startsWith("/") && !p.split("/").includes(".."), "must be an absolute path without '..'"),
  /** Headers the endpoint requires besides the credential (an API version). */
  headers: z.record(z.string().regex(/^[a-z0-9-]+$/, "must be a lowercase header name"), z.string()).optional(),
  /** Fields of the JSON answer that name the account (login, email, plan), shown when present. */
  identity: z.array(dottedField).optional(),
}));

export const ProbesSchema = lazy(() => z.strictObject({
  api_key: ProbeSchema.optional(),
  oauth: ProbeSchema.optional(),
}));

export type Probe = z.infer<typeof ProbeSchema>;
