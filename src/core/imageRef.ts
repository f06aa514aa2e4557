import { UsageError } from "./errors.js";

// The OCI distribution reference grammar (github.com/distribution/reference, without IPv6 hosts):
// [host[:port]/]path[:tag][@digest]. It can never start with '-' nor hold whitespace, so a value
// placed before the command in an engine argv is always read as the image, never as a flag.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const TAG = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const IMAGE_REFERENCE = new RegExp(`^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::${TAG})?(?:@${DIGEST})?$`);
/** Name (255) + tag (128) + a sha512 digest, with room to spare. */
const MAX_LENGTH = 512;

export function isImageReference(ref: string): boolean {
  return ref.length <= MAX_LENGTH && IMAGE_REFERENCE.test(ref);
}

/**
 * Refuses anything but an image reference (`localhost/authctl-auth:abc`, `quay.io/x/y@sha256:…`)
 * before it reaches an engine argv, where `--privileged` would be taken as a flag.
 * @param what how the caller names the value in the message (`--image`, `--base`, `image`)
 */
export function assertImageReference(ref: string, what = "image"): string {
  if (typeof ref === "string" && isImageReference(ref)) return ref;
  const shown = JSON.stringify(String(ref).slice(0, 80));
  throw new UsageError(`${what} ${shown} is not an image reference (e.g. localhost/authctl-auth:latest); nothing was run`);
}
