// CIDv1 of raw bytes with a sha2-256 multihash, in base32 (lower case, no padding, "b"
// prefix): the content store's names, so the browser can check bytes against their CID.
import { sha256 } from "@noble/hashes/sha2.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
// version 1, codec raw (0x55), multihash sha2-256 (0x12) of 32 bytes (0x20)
const PREFIX = [0x01, 0x55, 0x12, 0x20];

function base32(bytes) {
  let out = "", bits = 0, value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text) {
  const out = [];
  let bits = 0, value = 0;
  for (const ch of text) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

export function cidOf(bytes) {
  return "b" + base32(Uint8Array.from([...PREFIX, ...sha256(bytes)]));
}

// The 32-byte sha2-256 digest a CID names; throws for any other kind of CID.
export function digestOfCid(cid) {
  if (typeof cid !== "string" || !cid.startsWith("b")) throw new Error(`${cid} is not a base32 CIDv1`);
  const raw = unbase32(cid.slice(1));
  if (raw.length !== 36 || PREFIX.some((b, i) => raw[i] !== b)) throw new Error(`${cid} is not a raw sha2-256 CIDv1`);
  return raw.slice(4);
}
