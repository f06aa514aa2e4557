import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from "node:crypto";
import { existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { contextFrom, type WithContext } from "../context.js";
import { UsageError } from "../core/errors.js";
import { ensurePrivateDir } from "../core/paths.js";
import { bitString, boolean, explicit, implicit, octetString, oid, sequence, set, smallInteger, time, unsignedInteger, utf8String } from "./der.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_MS = 365 * DAY_MS;
/** A CA this close to its end is replaced, so a container started now keeps a valid one for weeks. */
const CA_RENEW_BEFORE_MS = 30 * DAY_MS;
export const SERVER_CERT_VALIDITY_MS = DAY_MS;
/** Clocks in containers and on the host may differ a little. */
const BACKDATE_MS = 5 * 60 * 1000;

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  nameConstraints: "2.5.29.30",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

const LOOPBACK = Buffer.from([127, 0, 0, 1]);
/** GeneralNames iPAddress [7] and dNSName [2]: what the server certificate is for. */
const LOOPBACK_NAMES = [implicit(7, LOOPBACK), implicit(2, Buffer.from("localhost"))];
/**
 * permittedSubtrees [0] of the CA's name constraints: 127.0.0.1/32 and localhost, the only
 * names it can vouch for, so a leaked CA key cannot impersonate any other host.
 */
const PERMITTED_SUBTREES = explicit(
  0,
  Buffer.concat([sequence(implicit(7, Buffer.concat([LOOPBACK, Buffer.from([255, 255, 255, 255])]))), sequence(implicit(2, Buffer.from("localhost")))]),
);

export interface ServerIdentity {
  /** PEM private key (kept in memory by the proxy, never written). */
  key: string;
  /** PEM certificate for 127.0.0.1 and localhost. */
  cert: string;
}

export interface LocalCa {
  certificatePem: string;
  /** The public CA certificate on disk, for host clients (`CODEX_CA_CERTIFICATE`). */
  certificateFile: string;
  notAfter: Date;
  /** A fresh key and a short-lived certificate for 127.0.0.1/localhost signed by this CA. */
  issueServerIdentity(validityMs?: number): ServerIdentity;
}

const pem = (label: string, der: Buffer) => `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
const name = (commonName: string) => sequence(set(sequence(oid(OID.commonName), utf8String(commonName))));
const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
const spki = (key: KeyObject) => key.export({ type: "spki", format: "der" });
const keyIdOf = (key: KeyObject) => createHash("sha1").update(spki(key)).digest();

interface CertificateSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Buffer[];
}

function certificate(spec: CertificateSpec): string {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial),
    algorithm,
    name(spec.issuer),
    sequence(time(spec.notBefore), time(spec.notAfter)),
    name(spec.subject),
    spki(spec.publicKey),
    explicit(3, sequence(...spec.extensions)),
  );
  return pem("CERTIFICATE", sequence(tbs, algorithm, bitString(sign("sha256", tbs, spec.signingKey))));
}

const newKeyPair = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" });

function createCa(now: number): string {
  const { privateKey, publicKey } = newKeyPair();
  const subject = `authctl local proxy CA ${randomBytes(4).toString("hex")}`;
  const cert = certificate({
    subject,
    issuer: subject,
    publicKey,
    signingKey: privateKey,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_MS),
    extensions: [
      extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
      // keyCertSign and cRLSign (bits 5 and 6).
      extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)),
      extension(OID.subjectKeyId, false, octetString(keyIdOf(publicKey))),
      extension(OID.nameConstraints, true, sequence(PERMITTED_SUBTREES)),
    ],
  });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString() + cert;
}

function parseCa(text: string, file: string): { key: KeyObject; cert: X509Certificate; certificatePem: string } {
  try {
    const certificatePem = text.slice(text.indexOf("-----BEGIN CERTIFICATE-----"));
    const key = createPrivateKey(text);
    const cert = new X509Certificate(certificatePem);
    if (!cert.ca || !cert.checkPrivateKey(key)) throw new Error("key and certificate do not match");
    return { key, cert, certificatePem };
  } catch (error) {
    throw new UsageError(
      `${file} is not a usable authctl proxy CA (${(error as Error).message}): delete it and authctl makes a new one (restart containers that trusted the old one)`,
    );
  }
}

/** Writes `text` to `path` whole: a racing process sees the old file or the new one, never half. */
function writeWhole(path: string, text: string, mode: number, replace: boolean): void {
  const staging = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(staging, text, { mode, flag: "wx" });
  try {
    if (replace) renameSync(staging, path);
    else linkSync(staging, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    if (existsSync(staging)) unlinkSync(staging);
  }
}

/**
 * The home's local CA for the proxy's TLS (Codex in ChatGPT mode accepts only an HTTPS backend):
 * made on first use, replaced 30 days before it ends; its key stays in `$AUTHCTL_HOME/proxy-ca`
 * (0600) and signs only short-lived certificates for 127.0.0.1/localhost, which its name
 * constraints also enforce on every client that checks them.
 */
export function localCa(options: WithContext = {}): LocalCa {
  const context = contextFrom(options);
  const dir = ensurePrivateDir(context.paths.proxyCa);
  const keyFile = join(dir, "ca-key.pem");
  const certificateFile = join(dir, "ca.pem");
  const now = context.clock.now();
  if (!existsSync(keyFile)) writeWhole(keyFile, createCa(now), 0o600, false);
  let ca = parseCa(readFileSync(keyFile, "utf8"), keyFile);
  if (new Date(ca.cert.validTo).getTime() - now < CA_RENEW_BEFORE_MS) {
    writeWhole(keyFile, createCa(now), 0o600, true);
    ca = parseCa(readFileSync(keyFile, "utf8"), keyFile);
  }
  if (!existsSync(certificateFile) || readFileSync(certificateFile, "utf8") !== ca.certificatePem) writeWhole(certificateFile, ca.certificatePem, 0o644, true);
  const caNotAfter = new Date(ca.cert.validTo);
  const issuer = ca.cert.subject.replace(/^CN=/, "");
  const caKeyId = keyIdOf(ca.cert.publicKey);
  return {
    certificatePem: ca.certificatePem,
    certificateFile,
    notAfter: caNotAfter,
    issueServerIdentity(validityMs = SERVER_CERT_VALIDITY_MS) {
      const issuedAt = context.clock.now();
      const { privateKey, publicKey } = newKeyPair();
      const cert = certificate({
        subject: "localhost",
        issuer,
        publicKey,
        signingKey: ca.key,
        notBefore: new Date(issuedAt - BACKDATE_MS),
        notAfter: new Date(Math.min(issuedAt + validityMs, caNotAfter.getTime())),
        extensions: [
          extension(OID.basicConstraints, true, sequence()),
          // digitalSignature (bit 0).
          extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
          extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
          extension(OID.subjectAltName, false, sequence(...LOOPBACK_NAMES)),
          extension(OID.authorityKeyId, false, sequence(implicit(0, caKeyId))),
        ],
      });
      return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert };
    },
  };
}
