export type { CredentialType } from "./type.js";
export {
  CREDENTIAL_TYPES,
  credentialType,
  modeOf,
  parsePayload,
  readPayload,
  secretOf,
  typedCredential,
  upgradePayload,
  type CredentialPayload,
  type PayloadType,
} from "./table.js";
export { accessExpiry, factsOf, recordCredential, type CredentialSummary, type RecordCredentialOptions } from "./record.js";
export { identityFacts, readFacts, type CredentialFacts } from "./facts.js";
