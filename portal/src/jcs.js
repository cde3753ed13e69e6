// RFC 8785 (JCS) canonical JSON: the bytes DALRN signs, hashes and addresses by CID.
// ECMAScript's own JSON.stringify is the RFC's rule for strings and numbers; objects are
// written with their keys sorted by UTF-16 code units, arrays in order, no whitespace.

export function canonicalText(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error("JCS: a number must be finite");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalText).join(",") + "]";
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalText(value[k])).join(",") + "}";
  }
  throw new Error(`JCS: cannot serialise a ${typeof value}`);
}

export function canonicalBytes(value) {
  return new TextEncoder().encode(canonicalText(value));
}
