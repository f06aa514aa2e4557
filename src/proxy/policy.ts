import { StoreError, UsageError } from "../core/errors.js";
import { ENDPOINT_NAME, ENDPOINT_RULE, PROXY_METHODS, type ProxyMethod, type ProxyRoute } from "../roster/proxySchema.js";

/**
 * What one agent session is narrowed to when its phantoms are minted, stored with them. It can
 * only narrow the roster's route: every rule here applies on top of the roster's, and a grant only
 * lifts one of the route's own `deny_by_default` endpoints.
 */
export interface SessionPolicy {
  methods?: ProxyMethod[];
  /** `METHOD /path` rules: when any are listed, a request must match one. */
  allow?: string[];
  deny?: string[];
  /** Names of the route's `deny_by_default` endpoints this session may reach. */
  grants?: string[];
  maxRequests?: number;
  /** Request and response bytes together, over the session's life in this proxy. */
  maxBytes?: number;
  rate?: { count: number; perMs: number };
}

/** A refused request: the status, the rule that refused it (as the 403 body and the audit name it), why. */
export interface PolicyRefusal {
  status: number;
  rule: string;
  message: string;
  headers?: Record<string, string>;
}

interface CompiledRule {
  text: string;
  /** Undefined for `*`: any method. */
  methods?: ReadonlySet<string>;
  pattern: RegExp;
}

const RULE_FORMAT = "'METHOD /path' (METHOD: GET, GET,HEAD or *; a path segment * matches one segment, ** any number)";
const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");

export function compileRule(text: string): CompiledRule {
  const match = ENDPOINT_RULE.exec(text.trim());
  if (!match) throw new UsageError(`endpoint rule "${text.slice(0, 80)}" must be ${RULE_FORMAT}, e.g. 'GET /repos/**'`);
  const [, methods, path] = match as unknown as [string, string, string];
  let source = "";
  for (const segment of path.split("/").slice(1)) {
    if (segment === "**") source += "(?:/[^/]+)*";
    else if (segment === "*") source += "/[^/]+";
    else if (segment) source += `/${segment.split("*").map(escapeRegExp).join("[^/]*")}`;
  }
  // Case-insensitive and with or without a trailing '/': a server may route `/User/Keys/` as `/user/keys`.
  return { text: text.trim(), ...(methods === "*" ? {} : { methods: new Set(methods.split(",")) }), pattern: new RegExp(`^${source}/?$`, "i") };
}

const matches = (rule: CompiledRule, method: string, path: string) => (!rule.methods || rule.methods.has(method)) && rule.pattern.test(path);

/**
 * The path as the upstream will read it: escapes decoded (the path was already checked: no escape
 * stands for `/`, `.` or a control) and Unicode folded, so `/user/%6beys` meets the rule for `/user/keys`.
 * Undefined when it cannot be decoded: refused, never guessed.
 */
function canonicalPath(rawUrl: string): string | undefined {
  let path = rawUrl.split("?")[0]!;
  try {
    for (let round = 0; /%[0-9A-Fa-f]{2}/.test(path); round++) {
      if (round > 3) return undefined;
      path = decodeURIComponent(path);
    }
  } catch {
    return undefined;
  }
  return path.normalize("NFKC");
}

/** A route's rules and one session's, compiled once for that session; `check` is a few regex tests. */
export class CompiledPolicy {
  private readonly denied: Array<[name: string, rules: CompiledRule[]]>;
  private readonly routeAllow: CompiledRule[];
  private readonly routeDeny: CompiledRule[];
  private readonly sessionAllow: CompiledRule[];
  private readonly sessionDeny: CompiledRule[];

  constructor(
    private readonly provider: string,
    readonly where: string,
    route: Pick<ProxyRoute, "rules" | "deny_by_default">,
    readonly session: SessionPolicy = {},
  ) {
    const granted = new Set(session.grants ?? []);
    this.denied = Object.entries(route.deny_by_default ?? {})
      .filter(([name]) => !granted.has(name))
      .map(([name, rules]) => [name, rules.map(compileRule)]);
    this.routeAllow = (route.rules?.allow ?? []).map(compileRule);
    this.routeDeny = (route.rules?.deny ?? []).map(compileRule);
    this.sessionAllow = (session.allow ?? []).map(compileRule);
    this.sessionDeny = (session.deny ?? []).map(compileRule);
  }

  /** Undefined when the request may go on; else the refusal naming the rule. */
  check(method: string, rawUrl: string): PolicyRefusal | undefined {
    const refuse = (rule: string, why: string): PolicyRefusal => ({ status: 403, rule, message: `authctl proxy: ${method.slice(0, 16)} of this path is refused for ${this.provider} by ${rule}: ${why}` });
    if (this.session.methods && !(this.session.methods as string[]).includes(method)) {
      return refuse("session.methods", `this session may use only ${this.session.methods.join(", ")}`);
    }
    const path = canonicalPath(rawUrl);
    if (path === undefined) return refuse("path", "its escapes do not decode to a path");
    for (const [name, rules] of this.denied) {
      const hit = rules.find((rule) => matches(rule, method, path));
      if (hit) return refuse(`${this.where}.deny_by_default.${name}`, `"${hit.text}" mints durable credentials or destroys data; a session reaches it only when granted (authctl proxy client/container-args --grant ${name})`);
    }
    const routeDeny = this.routeDeny.find((rule) => matches(rule, method, path));
    if (routeDeny) return refuse(`${this.where}.rules.deny`, `"${routeDeny.text}"`);
    if (this.routeAllow.length && !this.routeAllow.some((rule) => matches(rule, method, path))) return refuse(`${this.where}.rules.allow`, "no rule there allows it");
    const sessionDeny = this.sessionDeny.find((rule) => matches(rule, method, path));
    if (sessionDeny) return refuse("session.deny", `"${sessionDeny.text}"`);
    if (this.sessionAllow.length && !this.sessionAllow.some((rule) => matches(rule, method, path))) {
      return refuse("session.allow", `this session may reach only ${this.sessionAllow.map((rule) => `"${rule.text}"`).join(", ")}`);
    }
    return undefined;
  }
}

interface Meter {
  requests: number;
  bytes: number;
  /** When the requests of the current rate window arrived (at most `rate.count` of them). */
  recent: number[];
}

/** Request, byte and rate budgets of each session, counted in this proxy process. */
export class SessionMeters {
  private readonly meters = new Map<string, Meter>();

  private meter(key: string): Meter {
    let meter = this.meters.get(key);
    if (!meter) this.meters.set(key, (meter = { requests: 0, bytes: 0, recent: [] }));
    return meter;
  }

  /** Counts one request against the session's budgets, or says which budget refuses it. */
  take(key: string, policy: SessionPolicy, now: number): PolicyRefusal | undefined {
    if (policy.maxRequests === undefined && policy.maxBytes === undefined && !policy.rate) return undefined;
    const meter = this.meter(key);
    if (policy.maxRequests !== undefined && meter.requests >= policy.maxRequests) {
      return { status: 403, rule: "session.max_requests", message: `authctl proxy: this session has used its ${policy.maxRequests} requests; mint a new session for more` };
    }
    if (policy.maxBytes !== undefined && meter.bytes >= policy.maxBytes) {
      return { status: 403, rule: "session.max_bytes", message: `authctl proxy: this session has used its ${policy.maxBytes} bytes; mint a new session for more` };
    }
    if (policy.rate) {
      const { count, perMs } = policy.rate;
      meter.recent = meter.recent.filter((at) => at > now - perMs);
      if (meter.recent.length >= count) {
        const wait = Math.max(1, Math.ceil((meter.recent[0]! + perMs - now) / 1000));
        const message = `authctl proxy: this session may send ${count} requests per ${perMs / 1000} s; retry in ${wait} s`;
        return { status: 429, rule: "session.rate", message, headers: { "retry-after": String(wait) } };
      }
      meter.recent.push(now);
    }
    meter.requests++;
    return undefined;
  }

  /** What the byte budget still allows (Infinity without one). */
  bytesLeft(key: string, policy: SessionPolicy): number {
    return policy.maxBytes === undefined ? Infinity : policy.maxBytes - (this.meters.get(key)?.bytes ?? 0);
  }

  addBytes(key: string, bytes: number): void {
    if (this.meters.has(key)) this.meter(key).bytes += bytes;
  }
}

const RATE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** `10/s`, `100/m`, `1000/h`. */
export function parseRate(text: string): { count: number; perMs: number } {
  const match = /^([1-9][0-9]{0,8})\/(s|m|h)$/.exec(text.trim());
  if (!match) throw new UsageError(`rate "${text.slice(0, 40)}" must be N/s, N/m or N/h (requests per second, minute or hour), e.g. 5/s`);
  return { count: Number(match[1]), perMs: RATE_UNITS[match[2]!]! };
}

function positive(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) throw new UsageError(`${name} must be a whole number of at least 1 (got ${String(value).slice(0, 20)})`);
  return value;
}

/**
 * Checks a session policy against the provider's routes before anything is minted: rules that
 * compile, methods the roster allows, grants of endpoints the roster lists.
 * @throws UsageError naming what is wrong and what is possible
 */
export function checkSessionPolicy(provider: string, policy: SessionPolicy, routes: ReadonlyArray<Pick<ProxyRoute, "methods" | "deny_by_default">>): SessionPolicy {
  for (const rule of [...(policy.allow ?? []), ...(policy.deny ?? [])]) compileRule(rule);
  const allowed = new Set(routes.flatMap((route) => route.methods ?? [...PROXY_METHODS]));
  for (const method of policy.methods ?? []) {
    if (!allowed.has(method)) throw new UsageError(`method ${String(method).slice(0, 16)} is not allowed for ${provider} by its roster (allowed: ${[...allowed].join(", ")}); a session can only narrow that`);
  }
  const endpoints = new Set(routes.flatMap((route) => Object.keys(route.deny_by_default ?? {})));
  for (const name of policy.grants ?? []) {
    if (!ENDPOINT_NAME.test(name) || !endpoints.has(name)) {
      const known = endpoints.size ? `its denied-by-default endpoints are ${[...endpoints].join(", ")}` : "it denies no endpoint by default";
      throw new UsageError(`${provider} has no denied-by-default endpoint "${name.slice(0, 40)}" to grant: ${known}`);
    }
  }
  positive("--max-requests", policy.maxRequests);
  positive("--max-bytes", policy.maxBytes);
  return policy;
}

export interface SessionPolicyFlags {
  allow?: string[];
  deny?: string[];
  methods?: string;
  grant?: string[];
  maxRequests?: number;
  maxBytes?: number;
  rate?: string;
}

/** The session policy the CLI flags ask for; undefined when they ask for none. */
export function sessionPolicyFromFlags(flags: SessionPolicyFlags): SessionPolicy | undefined {
  const methods = flags.methods?.split(",").map((m) => m.trim().toUpperCase()).filter(Boolean);
  for (const method of methods ?? []) {
    if (!(PROXY_METHODS as readonly string[]).includes(method)) throw new UsageError(`--methods: ${method.slice(0, 16)} is not one of ${PROXY_METHODS.join(", ")}`);
  }
  const policy: SessionPolicy = {
    ...(methods?.length ? { methods: methods as ProxyMethod[] } : {}),
    ...(flags.allow?.length ? { allow: flags.allow } : {}),
    ...(flags.deny?.length ? { deny: flags.deny } : {}),
    ...(flags.grant?.length ? { grants: flags.grant } : {}),
    ...(flags.maxRequests !== undefined ? { maxRequests: flags.maxRequests } : {}),
    ...(flags.maxBytes !== undefined ? { maxBytes: flags.maxBytes } : {}),
    ...(flags.rate !== undefined ? { rate: parseRate(flags.rate) } : {}),
  };
  return Object.keys(policy).length ? policy : undefined;
}

/** A stored policy back as a SessionPolicy; a row that is not one fails closed. */
export function parseStoredPolicy(text: string, sessionId: string): SessionPolicy {
  try {
    const policy = JSON.parse(text) as SessionPolicy;
    if (policy && typeof policy === "object" && !Array.isArray(policy)) return policy;
  } catch {
    // reported below
  }
  throw new StoreError(`the stored proxy policy of session ${sessionId} is unreadable: revoke the session (authctl proxy revoke ${sessionId}) and mint a new one`);
}
