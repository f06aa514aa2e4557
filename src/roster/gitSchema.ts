import * as z from "zod";
import { lazy } from "../core/lazy.js";

/** A host as git names it in a credential request: a lowercase DNS name or IPv4 address, maybe with a port. */
export const gitHost = lazy(() => z
  .string()
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/, "must be a host as git names it (github.com, git.example.com:8443): no scheme, no path, lowercase"));

/**
 * Which git hosts this provider's credential answers over HTTPS (`authctl git-credential`), and the
 * user name git sends with it: hosts that take a token as the password ignore the name or want a
 * fixed one (GitHub: x-access-token, GitLab: oauth2).
 */
export const GitSchema = lazy(() => z.strictObject({
  hosts: z.array(gitHost).min(1, "must list at least one host"),
  username: z
    .string()
    .regex(/^[^\s:@/]+$/, "must be one word without ':', '@', '/' or spaces")
    .default("x-access-token"),
}));

export type GitConfig = z.infer<typeof GitSchema>;
