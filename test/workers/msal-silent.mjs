// A second process: a silent token from the stored MSAL cache. Prints a hash, never the token.
import { createHash } from "node:crypto";
const { Authctl, buildMsalApp } = await import(process.argv[2]);
const context = new Authctl({ env: process.env });
const app = await buildMsalApp("default", { context });
const [account] = await app.getTokenCache().getAllAccounts();
const result = await app.acquireTokenSilent({ account, scopes: ["User.Read"] });
console.log(JSON.stringify({ username: account.username, tokenSha: createHash("sha256").update(result.accessToken).digest("hex") }));
context.close();
