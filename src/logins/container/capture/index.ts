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
