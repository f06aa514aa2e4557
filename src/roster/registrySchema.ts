import * as z from "zod";
import { lazy } from "../core/lazy.js";
import { gitHost } from "./gitSchema.js";

/**
 * Which container registries this provider's credential logs docker in to
 * (`docker-credential-authctl`), and the user name it goes with: a registry checks the pair, so
 * the name belongs to the roster beside the hosts, the password or token to the store.
 */
export const RegistrySchema = lazy(() => z.strictObject({
  /** Hosts as docker names them: `ghcr.io`, `registry.example.com:5000` (no scheme, no path). */
  hosts: z.array(gitHost).min(1, "must list at least one registry host"),
  username: z.string().regex(/^[^\s:]+$/, "must be one word without ':' or spaces (docker sends it beside the secret)"),
}));

export type RegistryConfig = z.infer<typeof RegistrySchema>;
