/**
 * Typed errors. Library code throws these; only the CLI turns them into text and exit codes.
 * Messages must never contain a secret: callers pass masked previews or names only.
 */
export class AuthctlError extends Error {
  /** Process exit code the CLI uses for this error (SPEC §9). */
  readonly exitCode: number = 1;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UsageError extends AuthctlError {
  override readonly exitCode = 2;
}

export class RosterError extends AuthctlError {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
  ) {
    super(`roster: ${file}: ${field ? `${field}: ` : ""}${problem}`);
  }
}

export class UnknownProviderError extends AuthctlError {
  override readonly exitCode = 2;
  constructor(
    readonly provider: string,
    known: readonly string[],
  ) {
    super(`unknown provider "${provider}"; known providers: ${known.join(", ")} (see \`authctl providers\`)`);
  }
}

export class InvalidNameError extends AuthctlError {
  override readonly exitCode = 2;
}

export class InvalidApiKeyError extends AuthctlError {}

export class StoreError extends AuthctlError {}

/** The store's key could not decrypt existing rows: wrong passphrase or key file. */
export class StoreLockedError extends StoreError {}

export class MissingCredentialsError extends AuthctlError {
  override readonly exitCode = 3;
  constructor(
    readonly provider: string,
    readonly credentialSet: string,
    /** The exact command that stores the missing credential. */
    readonly fixCommand: string,
  ) {
    super(`no credentials for ${credentialSet}:${provider}; run: ${fixCommand}`);
  }
}

export class NoEngineError extends AuthctlError {
  override readonly exitCode = 4;
}

export class EngineError extends AuthctlError {}

export class CaptureError extends AuthctlError {}

export class ModeUnavailableError extends AuthctlError {}

export class InterruptedError extends AuthctlError {
  override readonly exitCode = 130;
  constructor(readonly signal: NodeJS.Signals = "SIGINT") {
    super(`interrupted by ${signal}`);
  }
}
