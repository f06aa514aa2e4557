import * as z from "zod";

/**
 * How a provider's secret may leave authctl. `runtime_env`: exported to a process (`authctl run`,
 * the local service). `proxy_only`: never handed out; only the credential proxy may use it —
 * for logins a vendor reserves for its own client (Claude's subscription OAuth, VENDORS.md).
 */
export const DeliveryPolicySchema = z.enum(["runtime_env", "proxy_only"]);
export type DeliveryPolicy = z.infer<typeof DeliveryPolicySchema>;

const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name (A-Z, 0-9, _)");

export const DeliverySchema = z.strictObject({
  /** One policy for every kind of credential, or one per login mode (`{ oauth: proxy_only }`). */
  policy: z
    .union([DeliveryPolicySchema, z.strictObject({ oauth: DeliveryPolicySchema.optional(), api_key: DeliveryPolicySchema.optional() })])
    .default("runtime_env"),
  /** More names the same secret is exported under (GITHUB_TOKEN beside GH_TOKEN). */
  extra_env: z.array(envVarName).default([]),
  /** The variable an OAuth login's access token is exported as; defaults to `api_key.env_var`. */
  oauth_env_var: envVarName.optional(),
});

export type Delivery = z.infer<typeof DeliverySchema>;
