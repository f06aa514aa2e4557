import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { holdSignal, interruption } from "../../core/abort.js";
import { CaptureError } from "../../core/errors.js";

/**
 * The PKCE redirect target: an HTTP listener on 127.0.0.1 at a random port (RFC 8252 §7.3).
 * It answers exactly one redirect whose `state` matches, and a pasted copy of that redirect URL
 * (from a browser on another machine) is accepted the same way.
 */
export class LoopbackRedirect {
  private redirect: Promise<URL>;
  private settle!: { resolve: (url: URL) => void; reject: (e: Error) => void };

  private constructor(
    private readonly server: Server,
    readonly redirectUri: string,
    private readonly state: string,
  ) {
    this.redirect = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.redirect.catch(() => {});
    server.on("request", (req, res) => {
      const url = new URL(req.url ?? "/", redirectUri);
      if (!url.searchParams.has("state") && !url.searchParams.has("error")) {
        res.writeHead(404).end();
        return;
      }
      try {
        this.accept(url);
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end("authctl: login received; you can close this tab.\n");
      } catch (e) {
        res.writeHead(400, { "content-type": "text/plain; charset=utf-8" }).end(`authctl: ${(e as Error).message}\n`);
      }
    });
  }

  /** `port` 0 picks a free one; a restored session listens again on the port its auth URL names. */
  static async open(state: string, port = 0): Promise<LoopbackRedirect> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    return new LoopbackRedirect(server, `http://127.0.0.1:${bound}/`, state);
  }

  /**
   * Checks a redirect URL (loopback or pasted) and settles the wait with it. `state` is checked
   * before anything else: any local process can reach the listener, and only the authorization
   * server knows the state, so a redirect without it (an `?error=` included) is refused and the
   * login keeps waiting.
   */
  accept(url: URL): void {
    if (url.searchParams.get("state") !== this.state) {
      throw new CaptureError("the redirect URL's state does not match this login (a stale or forged redirect); nothing was stored");
    }
    const error = url.searchParams.get("error");
    if (error) {
      const failure = new CaptureError(`the authorization server refused the login: ${error.slice(0, 80)}`);
      this.settle.reject(failure);
      throw failure;
    }
    if (!url.searchParams.get("code")) throw new CaptureError("the redirect URL has no code parameter");
    this.settle.resolve(url);
  }

  /** The redirect that matched, from the listener or the pasted URL, whichever comes first. */
  async wait(options: { signal?: AbortSignal; pastedRedirectUrl?: Promise<string> } = {}): Promise<URL> {
    const { signal } = options;
    let stop!: (e: Error) => void;
    const stopped = new Promise<never>((_, reject) => (stop = reject));
    const release = holdSignal(signal, () => stop(interruption(signal!)));
    options.pastedRedirectUrl?.then(
      (text) => {
        try {
          this.accept(new URL(text.trim()));
        } catch (e) {
          stop(e instanceof CaptureError ? e : new CaptureError("the pasted text is not the redirect URL (it should start with " + this.redirectUri + ")"));
        }
      },
      () => {},
    );
    try {
      return await Promise.race([this.redirect, stopped]);
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
