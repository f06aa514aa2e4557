import { StoreError } from "../../core/errors.js";

/**
 * How messages name a PostgreSQL store: `PostgreSQL store host:port/db`, from the URL's parts
 * that are not secret. Never the URL itself, which may carry the password.
 */
export function describeUrl(url: string): { label: string; password: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreError("AUTHCTL_STORE_URL is not a valid URL (it is not shown: it may hold a password); the form is postgres://user@host:5432/database");
  }
  const query = parsed.searchParams;
  const host = query.get("host") ?? (decodeURIComponent(parsed.hostname) || "localhost");
  const port = query.get("port") ?? (parsed.port || "5432");
  const db = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || decodeURIComponent(parsed.username) || "postgres";
  return { label: `PostgreSQL store ${host}:${port}/${db}`, password: parsed.password ? decodeURIComponent(parsed.password) : undefined };
}

export interface WorkerError {
  code?: string;
  message: string;
  /** The connection failed or dropped (refused, reset, timed out, the server shutting down). */
  lost?: boolean;
}

/**
 * One line naming the store and what to do. The server's text is kept (it says which table or
 * constraint) but never its detail (which can quote row values); a password is masked should a
 * message ever quote one.
 */
export function storeError(label: string, error: WorkerError, password: string | undefined): StoreError {
  let text = error.message.replace(/\s+/g, " ").trim();
  if (password) text = text.split(password).join("***");
  const code = error.code ? `${error.code}: ` : "";
  if (error.lost) {
    return new StoreError(`${label} cannot be reached (${code}${text}): check that PostgreSQL is running and AUTHCTL_STORE_URL names it, then retry`);
  }
  if (error.code === "28P01" || error.code === "28000") {
    return new StoreError(`${label} refused the login (${code}${text}): check the user and password (in AUTHCTL_STORE_URL, PGPASSWORD or ~/.pgpass)`);
  }
  if (error.code === "3D000") return new StoreError(`${label}: the database does not exist (${text}): create it, or fix AUTHCTL_STORE_URL`);
  if (error.code === "55P03") return new StoreError(`${label}: the store's write lock was not granted in time (another host holds it): retry`);
  return new StoreError(`${label}: ${code}${text}`);
}
