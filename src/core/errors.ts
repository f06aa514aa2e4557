/**
 * Typed errors. Library code throws these; only the CLI turns them into text and exit codes
 * (`src/cli/exitCodes.ts`). Messages must never contain a secret: callers pass masked previews
 * or names only.
 */
export class AuthctlError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UsageError extends AuthctlError {}

/** A library call given an argument of the wrong type or none (names the call and the argument). */
export class InvalidArgumentError extends UsageError {}

export class RosterError extends AuthctlError {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`roster: ${file}: ${field ? `${field}: ` : ""}${problem}`);
  }
}

/**
 * A name as typed, for a message: quoted and cut, and not shown at all when it cannot be a name
 * (a key pasted where the provider goes must not be echoed back into a terminal or a CI log).
 */
function shownName(name: string): string {
  if (/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) return `"${name}"`;
  return `(${name.length} characters that are not a provider name — a key typed in the wrong place? It is not shown)`;
}

export class UnknownProviderError extends AuthctlError {
  constructor(
    readonly provider: string,
    known: readonly string[],
  ) {
    super(`unknown provider ${shownName(provider)}; known providers: ${known.join(", ")} (see \`authctl providers\`)`);
  }
}

export class InvalidNameError extends AuthctlError {}

export class InvalidApiKeyError extends AuthctlError {}

export class StoreError extends AuthctlError {}

/** A directory authctl would keep secrets in is not private to the user (another account could write or own it). */
export class UnsafeDirectoryError extends AuthctlError {}

/** The store's key could not decrypt existing rows: wrong passphrase or key file. */
export class StoreLockedError extends StoreError {}

export class MissingCredentialsError extends AuthctlError {
  constructor(
    readonly provider: string,
    readonly credentialSet: string,
    /** The exact command that stores the missing credential. */
    readonly fixCommand: string,
    /** When storing is not the fix (nothing to remove, a whole set missing): the message, which names the fix itself. */
    message = `no credentials for ${credentialSet}:${provider}; run: ${fixCommand}`,
  ) {
    super(message);
  }
}

export class NoEngineError extends AuthctlError {}

export class EngineError extends AuthctlError {}

export class CaptureError extends AuthctlError {}

export class ModeUnavailableError extends AuthctlError {}

/** A second container login for the same set and provider while the first still runs. */
export class LoginInProgressError extends AuthctlError {}

export class InterruptedError extends AuthctlError {
  /** The stop signal's name (SIGINT, SIGTERM, SIGHUP), or "abort" for a caller's own AbortController. */
  constructor(readonly signal: string = "SIGINT") {
    super(signal === "abort" ? "interrupted" : `interrupted by ${signal}`);
  }
}

/** A credential whose roster delivery policy is `proxy_only` was asked for as a plain secret. */
export class DeliveryRefusedError extends AuthctlError {}

/** The local credential service refused a request (bad, expired, revoked or out-of-scope token). */
export class AccessDeniedError extends AuthctlError {}

/** The local credential service could not be reached or answered something unexpected. */
export class ServiceError extends AuthctlError {}

/** A service socket authctl cannot prove is its user's own daemon (another account's directory or uid); nothing was sent to it. */
export class UntrustedServiceError extends ServiceError {}

/** The command of `authctl run` could not be started (not found, not executable); nothing was run. */
export class CommandNotStartedError extends AuthctlError {}

/** The credential proxy could not refresh an OAuth login (the vendor refused, or did not answer). */
export class CredentialRefreshError extends AuthctlError {}

/** A secret source (a `command` that prints the key) failed: names the provider and how, never its output. */
export class SecretSourceError extends AuthctlError {}

/**
 * An HTTP exchange authctl started did not complete: `reason` says how, and callers decide by it,
 * never by the message. The message names the peer, the limit and nothing of the body.
 */
export class HttpExchangeError extends AuthctlError {
  constructor(
    readonly reason: "timeout" | "too_large",
    message: string,
  ) {
    super(message);
  }
}

/** A credential payload that is none of the known types, or not of its type's shape: names the row and the field, never a value. */
export class InvalidCredentialError extends AuthctlError {}
