import type { Authctl, WithContext } from "../context.js";
import { MissingCredentialsError } from "../core/errors.js";
import { assertSetName } from "../core/names.js";
import { fixCommandFor } from "../roster/fixCommand.js";
import type { Provider } from "../roster/schema.js";
import type { StoredCredential } from "../store/store.js";
import type { HostFlowName } from "../roster/hostFlowSchema.js";
import type { CredentialSummary } from "../credentials/index.js";
import * as z from "zod";
import { SetOptions, validateArguments } from "../core/arguments.js";
import type { HostPromptSchema } from "./hostSessions.js";

/** What a host login asks the user to do: enter a code at a URL, or open an authorization URL. */
export type HostPrompt = z.infer<typeof HostPromptSchema>;

/** @deprecated use `CredentialSummary`: the one summary every login returns. */
export type HostLoginSummary = CredentialSummary;

export interface HostCaptureOptions {
  /** Aborting stops the poll or the wait for the redirect: nothing is stored, `InterruptedError`. */
  signal?: AbortSignal;
  /**
   * PKCE only: the redirect URL pasted from the browser's address bar (headless machines, where
   * the loopback redirect cannot reach this process). Raced against the loopback listener.
   */
  pastedRedirectUrl?: Promise<string>;
}

/**
 * A host login, prepared: `prompt` says what to show; `capture` waits (device-code poll or PKCE
 * redirect), stores the result and returns a summary without the secret; `cleanup` closes what
 * prepare opened (listener, poll). The same shape as a container `AuthSession`.
 */
export interface HostLoginSession extends AsyncDisposable {
  readonly provider: string;
  readonly credentialSet: string;
  readonly method: HostFlowName;
  readonly title: string;
  readonly prompt: HostPrompt;
  capture(options?: HostCaptureOptions): Promise<HostLoginSummary>;
  cleanup(): Promise<void>;
}

export interface HostLoginOptions extends WithContext {
  credentialSet?: string;
  /** Override the roster's client id (flags: `--client-id`). */
  clientId?: string;
  /** Never from argv: `--client-secret-stdin` or the roster's `client_secret_env`. */
  clientSecret?: string;
  tenantId?: string;
  scopes?: string[];
  signal?: AbortSignal;
}

/** Text for a terminal: what to open and which code to enter. */
export function promptText(prompt: HostPrompt): string {
  if (prompt.kind === "device_code") return `Open ${prompt.verificationUri} and enter the code ${prompt.userCode}`;
  return `Open this URL in a browser and approve the login:\n${prompt.authUrl}\n(On a machine without a browser, open it elsewhere and paste the whole URL the browser ends on, starting ${prompt.redirectUri}.)`;
}

/** The stored host login of `account` for `entry`, whose payload is of `type`; else the error that says how to log in. */
export function storedHostLogin<T extends { type: string }>(context: Authctl, entry: Provider, account: string, type: T["type"]): StoredCredential<T> {
  const credentialSet = assertSetName(account);
  const row = context.store().get<T>(credentialSet, entry.name);
  if (!row || row.payload.type !== type) throw new MissingCredentialsError(entry.name, credentialSet, fixCommandFor(entry, credentialSet));
  return row;
}

/** What `buildMsalApp` and `buildGoogleCredentials` take: the stored login of which provider, in which set. */
export interface HostAppOptions extends WithContext {
  provider?: string;
  credentialSet?: string;
}

const HostAppArgs = SetOptions.extend({ provider: z.string().optional() });

/**
 * The options of a host-login builder, from the current call (`options`) or the deprecated one
 * (`account, options`), checked at the boundary under the builder's name.
 */
export function hostAppOptions<T extends HostAppOptions>(call: string, first: string | T | undefined, second: T | undefined): T {
  const options = (typeof first === "string" ? { ...second, credentialSet: first } : (first ?? {})) as T;
  validateArguments(call, { options: [HostAppArgs, options] });
  return options;
}
