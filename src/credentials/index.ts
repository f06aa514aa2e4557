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
export { recordCredential, type CredentialSummary, type RecordCredentialOptions } from "./record.js";
