import { posix } from "node:path";
import * as z from "zod";
import { lazy } from "../core/lazy.js";
import { HostFlowSchema } from "./hostFlowSchema.js";
import { DeliverySchema, envVarName } from "./deliverySchema.js";
import { GitSchema } from "./gitSchema.js";
import { ProbesSchema } from "./probeSchema.js";
import { ProxySchema } from "./proxySchema.js";
import { RegistrySchema } from "./registrySchema.js";
import { firstUnsafeRunArg } from "./runArgsPolicy.js";
import { SourceSchema } from "./sourceSchema.js";

const PROVIDER_NAME = /^[a-z0-9][a-z0-9-]*$/;

const relativePath = lazy(() => z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/"), "must be a relative path")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'"));

/**
 * The directory inside the container the login's temp dir is mounted on. authctl writes
 * `-v <host>:<this>:Z`, so it must be a plain path: a ':' would add mount options, and `/` would
 * hide the image's whole filesystem (both passed validation and failed at run time).
 */
const containerDir = lazy(() => z
  .string()
  .refine((p) => p.startsWith("/"), "must be an absolute path")
  .refine((p) => !p.split("/").includes(".."), "must not contain '..'")
  .refine((p) => p !== "/", "must be a directory below / (mounting over / hides the image)")
  .refine((p) => !/[:,\s\p{Cc}]/u.test(p), "must be a plain path: no ':' (authctl sets the mount options), ',', spaces or control characters")
  .refine((p) => p === "/" || (posix.normalize(p) === p && !p.endsWith("/")), "must be a normalized path: no '//', '.' segments or trailing '/'"));

const singleSegment = lazy(() => z
  .string()
  .min(1)
  .refine((p) => !p.includes("/") && p !== "." && p !== "..", "must be ONE path segment (no '/', not '.' or '..')"));

export const CaptureFileSchema = lazy(() => z.strictObject({
  path: relativePath,
  format: z.enum(["json", "yaml", "env"]).default("json"),
}));

/** Where the expiry lives inside the first capture file: a dotted field path and its unit. */
export const ExpirySchema = lazy(() => z.strictObject({
  field: z.string().min(1),
  unit: z.enum(["epoch_ms", "epoch_s", "iso", "jwt_exp"]),
}));

export const CaptureSchema = lazy(() => z.strictObject({
  extractor: z.string().regex(PROVIDER_NAME, "must name an extractor (lowercase letters, digits, '-')"),
  files: z.array(CaptureFileSchema).min(1, "must list at least one file"),
  expiry: ExpirySchema.optional(),
}));

export const OAuthSchema = lazy(() => z
  .strictObject({
    command: z.array(z.string().min(1)).min(1, "must be a non-empty argv list"),
    container_mount: containerDir,
    host_dir_name: singleSegment,
    extra_run_args: z.array(z.string()).default([]),
    /** Lets extra_run_args open the host to the login container (runArgsPolicy.ts): the file's author takes that on. */
    allow_unsafe_run_args: z.boolean().default(false),
    banner_hint: z.string().default(""),
    capture: CaptureSchema,
    post_capture_state: z.record(relativePath, z.record(z.string(), z.unknown())).default({}),
    image: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "must be an image key under images/").default("auth"),
    /** uid of the image's login user; rootless podman maps the caller onto it. */
    container_uid: z.number().int().nonnegative().default(1000),
    /** HOME of the image's login user: a private tmpfs where the container runs as another uid. */
    container_home: containerDir.default("/home/dev"),
  })
  .superRefine((o, ctx) => {
    const unsafe = o.allow_unsafe_run_args ? undefined : firstUnsafeRunArg(o.extra_run_args);
    if (!unsafe) return;
    ctx.addIssue({
      code: "custom",
      path: ["extra_run_args", unsafe.index],
      message: `${JSON.stringify(unsafe.shown)} ${unsafe.reason}; remove it, or add \`allow_unsafe_run_args: true\` under oauth in this file if the login really needs it`,
    });
  }));

/**
 * How a key entered inside a container reaches the tool: the vendor's own login command reading
 * the key on stdin (`login_command`, preferred: the vendor owns its file layout), or a file written
 * through a printf template (`config_path` + `printf_template`).
 */
export const ApiKeyConfigSchema = lazy(() => z
  .strictObject({
    login_command: z.array(z.string().min(1)).min(1, "must be a non-empty argv list").optional(),
    config_path: z.string().min(1).optional(),
    printf_template: z
      .string()
      .refine((t) => (t.match(/%s/g) ?? []).length === 1, "must contain exactly one %s")
      .optional(),
    tool_name: z.string().min(1),
  })
  .superRefine((c, ctx) => {
    const file = c.config_path !== undefined || c.printf_template !== undefined;
    if (c.login_command && file) {
      ctx.addIssue({ code: "custom", path: ["login_command"], message: "is exclusive with config_path/printf_template: pick one" });
    } else if (!c.login_command && (c.config_path === undefined || c.printf_template === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: "needs login_command, or both config_path and printf_template" });
    }
  }));

export const ApiKeySchema = lazy(() => z.strictObject({
  env_var: envVarName,
  key_url: z.url().optional(),
  prefixes: z.array(z.string().min(1)).optional(),
  config: ApiKeyConfigSchema.optional(),
}));

export const ProviderSchema = lazy(() => z
  .strictObject({
    name: z.string().regex(PROVIDER_NAME, "must match [a-z0-9][a-z0-9-]*"),
    label: z.string().min(1),
    kind: z.enum(["agent", "tool", "service"]),
    modes: z.array(z.enum(["oauth", "api_key"])).min(1, "must list at least one of oauth, api_key"),
    oauth: OAuthSchema.optional(),
    api_key: ApiKeySchema.optional(),
    /** OAuth on the host (device code, PKCE) instead of a container: src/roster/hostFlowSchema.ts. */
    host_flow: HostFlowSchema.optional(),
    delivery: DeliverySchema.optional(),
    proxy: ProxySchema.optional(),
    /** The git hosts this credential answers for `authctl git-credential`: src/roster/gitSchema.ts. */
    git: GitSchema.optional(),
    /** The container registries this credential logs docker in to (`docker-credential-authctl`): src/roster/registrySchema.ts. */
    registry: RegistrySchema.optional(),
    /** `status --check`'s live probe per mode: src/roster/probeSchema.ts. */
    probe: ProbesSchema.optional(),
    /** A command that prints the key on demand (Vault, 1Password, Bitwarden): src/roster/sourceSchema.ts. */
    source: SourceSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.modes.includes("oauth") && !p.oauth && !p.host_flow) {
      ctx.addIssue({ code: "custom", path: ["oauth"], message: "is required when modes lists oauth (or host_flow, for a login on the host)" });
    }
    if (p.modes.includes("api_key") && !p.api_key) {
      ctx.addIssue({ code: "custom", path: ["api_key"], message: "is required when modes lists api_key" });
    }
    for (const mode of ["api_key", "oauth"] as const) {
      if (p.probe?.[mode] && !p.probe[mode].base_url && !p.proxy?.[mode]) {
        ctx.addIssue({ code: "custom", path: ["probe", mode, "base_url"], message: `is required: there is no proxy.${mode} route to take the upstream from` });
      }
    }
  }));

export type Provider = z.infer<typeof ProviderSchema>;
export type OAuthConfig = z.infer<typeof OAuthSchema>;
export type ApiKeyConfig = z.infer<typeof ApiKeySchema>;
export type CaptureSpec = z.infer<typeof CaptureSchema>;
export type AuthMode = Provider["modes"][number];

/** The image's login user as the roster states it (the defaults for providers without an oauth block). */
export const imageUserOf = (entry: Provider): { uid: number; home: string } => ({ uid: entry.oauth?.container_uid ?? 1000, home: entry.oauth?.container_home ?? "/home/dev" });
