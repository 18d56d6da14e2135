// A minimal PKCS#12 (RFC 7292) writer: one certificate and its key in the shape browsers and
// OpenSSL 3 import (key PBES2/AES-256-CBC via Node's PKCS#8 export, SHA-256 MAC), no openssl binary.
import {
  createHash,
  createHmac,
  createPrivateKey,
  randomBytes,
  X509Certificate,
} from "node:crypto";

/** The password of the operator PKCS#12 files the dev PKI writes (documented in README). */
export const DEV_P12_PASSWORD = "nixfleet";

const OID = {
  data: "1.2.840.113549.1.7.1",
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  x509Certificate: "1.2.840.113549.1.9.22.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
  sha256: "2.16.840.1.101.3.4.2.1",
};
const MAC_ITERATIONS = 2048;

/**
 * Encodes `certPem` and `keyPem` as a password-protected PKCS#12 file named `friendlyName`.
 * The password must be non-empty ASCII (PBES2 and the MAC then read it the same way everywhere).
 */
export function encodePkcs12(
  certPem: string,
  keyPem: string,
  password: string,
  friendlyName: string,
): Buffer {
  if (!/^[\x20-\x7e]+$/.test(password)) {
    throw new RangeError("the PKCS#12 password must be non-empty printable ASCII");
  }
  const certDer = new X509Certificate(certPem).raw;
  const shroudedKey = createPrivateKey(keyPem).export({
    type: "pkcs8",
    format: "der",
    cipher: "aes-256-cbc",
    passphrase: password,
  });
  const keyId = createHash("sha256").update(certDer).digest().subarray(0, 20);
  const attributes = set(
    seq(oid(OID.friendlyName), set(bmpString(friendlyName))),
    seq(oid(OID.localKeyId), set(octets(keyId))),
  );
  const certBag = seq(
    oid(OID.certBag),
    explicit0(seq(oid(OID.x509Certificate), explicit0(octets(certDer)))),
    attributes,
  );
  const keyBag = seq(oid(OID.pkcs8ShroudedKeyBag), explicit0(shroudedKey), attributes);
  const dataInfo = (content: Buffer) => seq(oid(OID.data), explicit0(octets(content)));
  const authSafe = seq(dataInfo(seq(certBag)), dataInfo(seq(keyBag)));
  const salt = randomBytes(16);
  const macKey = pkcs12Kdf(password, salt, MAC_ITERATIONS, 3, 32);
  const mac = createHmac("sha256", macKey).update(authSafe).digest();
  const macData = seq(
    seq(seq(oid(OID.sha256), Buffer.from([0x05, 0x00])), octets(mac)),
    octets(salt),
    integer(MAC_ITERATIONS),
  );
  return seq(integer(3), dataInfo(authSafe), macData);
}

/** RFC 7292 appendix B.2 key derivation with SHA-256 (u = 32, v = 64 bytes). */
function pkcs12Kdf(
  password: string,
  salt: Buffer,
  iterations: number,
  id: number,
  length: number,
): Buffer {
  const v = 64;
  const pass = Buffer.concat([Buffer.from(password, "utf16le").swap16(), Buffer.alloc(2)]);
  // Each of salt and password repeated to a whole number of v-byte blocks.
  const stretch = (b: Buffer) => {
    const out = Buffer.alloc(Math.ceil(b.length / v) * v);
    for (let i = 0; i < out.length; i++) out[i] = b[i % b.length] as number;
    return out;
  };
  const input = Buffer.concat([stretch(salt), stretch(pass)]);
  const diversifier = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  for (let produced = 0; produced < length; produced += 32) {
    let a = createHash("sha256").update(diversifier).update(input).digest();
    for (let r = 1; r < iterations; r++) a = createHash("sha256").update(a).digest();
    out.push(a);
    const b = Buffer.concat([a, a]); // 64 bytes: A repeated to v
    for (let j = 0; j < input.length; j += v) {
      // I_j = (I_j + B + 1) mod 2^(8v), big-endian.
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (input[j + k] as number) + (b[k] as number) + carry;
        input[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

// DER, just the constructions above need.
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) length.unshift(rest % 256);
  const header = n < 0x80 ? [tag, n] : [tag, 0x80 | length.length, ...length];
  return Buffer.concat([Buffer.from(header), content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
// DER orders SET OF members by their encodings.
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat([...items].sort(Buffer.compare)));
const octets = (content: Buffer) => tlv(0x04, content);
const explicit0 = (content: Buffer) => tlv(0xa0, content);
const bmpString = (s: string) => tlv(0x1e, Buffer.from(s, "utf16le").swap16());

function integer(value: number): Buffer {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  if (bytes.length === 0 || (bytes[0] as number) >= 0x80) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}
