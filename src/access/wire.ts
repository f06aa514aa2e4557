import type { z } from "zod";
import { AccessDeniedError, DeliveryRefusedError, MissingCredentialsError, ServiceError } from "../core/errors.js";
import { ErrorResponse } from "./protocol.js";

/** One HTTP exchange with the local service, as the async and the sync client both perform it. */
export interface WireRequest {
  socketPath: string;
  path: string;
  /** undefined: GET (health); otherwise the JSON body of a POST. */
  body?: string;
  authorization?: string;
}
export interface WireResponse {
  status: number;
  body: string;
}

/** Turns the service's answer into the typed result, or into the typed error it stands for. */
export function decodeResponse<T>(path: string, response: WireResponse, schema: z.ZodType<T>, ref?: { credentialSet: string; provider: string }): T {
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw new ServiceError(`the authctl service answered ${path} with something that is not JSON (HTTP ${response.status})`);
  }
  if (response.status >= 200 && response.status < 300) {
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new ServiceError(`the authctl service answered ${path} in an unexpected shape: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  }
  const failure = ErrorResponse.safeParse(json);
  if (!failure.success) throw new ServiceError(`the authctl service failed ${path} with HTTP ${response.status}`);
  const { code, message, fixCommand } = failure.data.error;
  if (code === "not_found" && ref && fixCommand) throw new MissingCredentialsError(ref.provider, ref.credentialSet, fixCommand);
  if (code === "refused") throw new DeliveryRefusedError(message);
  if (code === "unauthorized" || code === "forbidden") throw new AccessDeniedError(`authctl service: ${message}`);
  throw new ServiceError(`authctl service: ${message}`);
}

/** The request options node:http needs for a wire request (shared by both clients). */
export function httpOptions(request: WireRequest) {
  const headers: Record<string, string> = { accept: "application/json" };
  if (request.body !== undefined) headers["content-type"] = "application/json";
  if (request.authorization) headers.authorization = request.authorization;
  return { socketPath: request.socketPath, path: request.path, method: request.body === undefined ? "GET" : "POST", headers };
}
