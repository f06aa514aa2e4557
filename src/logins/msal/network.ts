import type { INetworkModule, NetworkResponse } from "@azure/msal-node";
import type { Authctl } from "../../context.js";
import { addressRefusal } from "../../core/netGuard.js";
import type { Provider } from "../../roster/schema.js";
import { boundedFetch } from "../oauth2/client.js";
import { identityLookup } from "../tokenGuard.js";

/**
 * MSAL's network for a stored login: its token and metadata requests go through the identity
 * endpoints' address guard and the token-response cap, as openid-client's do. A refusal reaches
 * the caller as an MSAL `AuthError` (MSAL lets those through; any other error it replaces with
 * a bare `network_error`) whose cause is the refusal, naming the address and the roster field.
 */
export async function guardedMsalNetwork(context: Authctl, entry: Provider): Promise<INetworkModule> {
  const { AuthError } = await import("@azure/msal-node");
  const lookup = identityLookup(context, entry);
  async function send<T>(url: string, method: "GET" | "POST", options?: { headers?: Record<string, string>; body?: string }): Promise<NetworkResponse<T>> {
    let response: Response;
    try {
      response = await boundedFetch(lookup, url, { method, headers: options?.headers ?? {}, ...(method === "POST" ? { body: options?.body ?? "" } : {}) });
    } catch (error) {
      const refused = addressRefusal(error);
      if (!refused) throw error;
      throw Object.assign(new AuthError("authctl_address_refused", refused.message), { cause: refused });
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => (headers[name] = value));
    return { status: response.status, headers, body: (await response.json()) as T };
  }
  return {
    sendGetRequestAsync: <T>(url: string, options?: { headers?: Record<string, string> }) => send<T>(url, "GET", options),
    sendPostRequestAsync: <T>(url: string, options?: { headers?: Record<string, string>; body?: string }) => send<T>(url, "POST", options),
  };
}
