import * as z from "zod";
import { lazy } from "../core/lazy.js";

/**
 * How a provider's secret may leave authctl. `runtime_env`: exported to a process (`authctl run`,
 * the local service). `proxy_only`: never handed out; only the credential proxy may use it —
 * for logins a vendor reserves for its own client (Claude's subscription OAuth, docs/vendors.md).
 */
export const DeliveryPolicySchema = lazy(() => z.enum(["runtime_env", "proxy_only"]));
export type DeliveryPolicy = z.infer<typeof DeliveryPolicySchema>;

/**
 * Variables that change how a process runs, each with what it changes. A secret exported under one
 * is not just read by the tool: the loader, a shell or an interpreter acts on it (ld.so prints an
 * LD_PRELOAD it cannot load, the secret then in the command's stderr), or it goes out as a host name.
 */
const RUNS_DIFFERENTLY: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(LD_|DYLD_|GLIBC_|MALLOC_)|^(GCONV_PATH|LOCPATH|NLSPATH|HOSTALIASES|RESOLV_HOST_CONF)$/, "the dynamic linker and C library load code and files"],
  [/^(PATH|IFS|ENV|BASH_ENV|BASHOPTS|SHELLOPTS|PS[0-4]|PROMPT_COMMAND|CDPATH|GLOBIGNORE|HOME|SHELL|TMPDIR)$|^BASH_FUNC_/, "a shell finds and runs commands"],
  // An interpreter's own variables are its name plus letters (PYTHONPATH) or plus `_` (NODE_OPTIONS); NODEPING_KEY is not one.
  [/^(PYTHON|PERL|RUBY|NODE|JAVA|DOTNET|CORECLR)([A-Z0-9]*$|_)|^NPM_CONFIG_|^(_JAVA_OPTIONS|JDK_JAVA_OPTIONS|CLASSPATH|GEM_HOME|BUNDLE_GEMFILE)$|_PATH$/, "an interpreter or runtime loads code"],
  [/^GIT_/, "git runs commands and reads its configuration"],
  [/^(EDITOR|VISUAL|PAGER|MANPAGER|BROWSER|LESSOPEN|LESSCLOSE)$|_ASKPASS$/, "a program picks a helper command to run"],
  [/_PROXY$|^(SSL_CERT_FILE|SSL_CERT_DIR|CURL_CA_BUNDLE|REQUESTS_CA_BUNDLE)$/, "a program connects and which servers it trusts (the secret would go out as a host name)"],
  [/^XDG_/, "programs find their configuration"],
  [/^AUTHCTL_/, "authctl itself runs"],
];

/** A name a secret may be exported under: a plain variable name that only the tool reading it acts on. */
export const envVarName = lazy(() => z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name (A-Z, 0-9, _)")
  .superRefine((name, ctx) => {
    const what = RUNS_DIFFERENTLY.find(([pattern]) => pattern.test(name))?.[1];
    if (!what) return;
    ctx.addIssue({
      code: "custom",
      message: `${name} changes how ${what}, so authctl never exports a secret under it; name the variable the tool reads its key from (such as MYTOOL_API_KEY)`,
    });
  }));

export const DeliverySchema = lazy(() => z.strictObject({
  /** One policy for every kind of credential, or one per login mode (`{ oauth: proxy_only }`). */
  policy: z
    .union([DeliveryPolicySchema, z.strictObject({ oauth: DeliveryPolicySchema.optional(), api_key: DeliveryPolicySchema.optional() })])
    .default("runtime_env"),
  /** More names the same secret is exported under (GITHUB_TOKEN beside GH_TOKEN). */
  extra_env: z.array(envVarName).default([]),
  /** The variable an OAuth login's access token is exported as; defaults to `api_key.env_var`. */
  oauth_env_var: envVarName.optional(),
}));

export type Delivery = z.infer<typeof DeliverySchema>;
