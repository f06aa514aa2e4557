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
  type Extracted,
  type ExtractedTokens,
  type Extractor,
  type OAuthPayload,
} from "./extractors.js";
export { deepMerge, PHANTOM_FILE, writeSharedMount } from "./sharedMount.js";
