export { MAX_CAPTURE_BYTES, readCaptureFiles, readRegularFile, safeSegments, type CapturedFile } from "./readFiles.js";
export {
  decodeJwtClaims,
  EXTRACTORS,
  extract,
  getPath,
  parseCaptured,
  parseEnv,
  phantomMarker,
  readExpiry,
  type CapturedAccount,
  type Extracted,
  type ExtractedTokens,
  type Extractor,
  type OAuthPayload,
} from "./extractors.js";
export {
  deepMerge,
  MAX_STATE_BYTES,
  MAX_STATE_DEPTH,
  nestedDeeperThan,
  PHANTOM_FILE,
  prepareSharedMount,
  writeSharedMount,
  type PreparedSharedMount,
  type SharedMountOptions,
} from "./sharedMount.js";
