import { InvalidNameError } from "./errors.js";

export const SET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@+-]*$/;
export const PROVIDER_NAME = /^[a-z0-9][a-z0-9-]*$/;
const MAX_NAME = 128;

export const DEFAULT_SET = "default";

export function assertSetName(name: string): string {
  if (name.length > MAX_NAME || !SET_NAME.test(name)) {
    throw new InvalidNameError(
      `invalid credential set name ${JSON.stringify(name.slice(0, 40))}: use letters, digits and _ . @ + - (starting with a letter or digit, at most ${MAX_NAME} chars)`,
    );
  }
  return name;
}

export function assertProviderName(name: string): string {
  if (name.length > MAX_NAME || !PROVIDER_NAME.test(name)) {
    throw new InvalidNameError(
      `invalid provider name ${JSON.stringify(name.slice(0, 40))}: use lowercase letters, digits and - (see \`authctl providers\`)`,
    );
  }
  return name;
}

/** Parses `set:provider` (or bare `provider`, meaning the default set). */
export function parseCredentialRef(ref: string): { credentialSet: string; provider: string } {
  const colon = ref.lastIndexOf(":");
  const credentialSet = colon === -1 ? DEFAULT_SET : ref.slice(0, colon);
  const provider = colon === -1 ? ref : ref.slice(colon + 1);
  return { credentialSet: assertSetName(credentialSet), provider: assertProviderName(provider) };
}
