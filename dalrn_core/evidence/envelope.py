"""Confidential evidence as an envelope only its parties' tenants can open.

Envelope encryption, in the tenant's process:

1. A random 256-bit data key per dispute (`new_data_key`), kept by the tenant.
2. Each confidential text is sealed with AES-256-GCM under that key, a random 96-bit
   nonce, and associated data binding the owner tenant, the dispute id and the evidence
   id, so a ciphertext moved to another dispute or item no longer opens.
3. The data key is wrapped for every tenant that may read the text, in the manner of
   HPKE's base mode (RFC 9180, sec. 5.1) without its key schedule: a fresh ephemeral
   X25519 key, ECDH with the recipient's public key, HKDF-SHA256 (RFC 5869) over the shared
   secret with both public keys as salt, and AES-256-GCM of the data key under the result,
   with associated data binding the envelope's header and the recipient.

The envelope is canonical JSON (RFC 8785), so its bytes, and hence its CID, follow from its
content alone. Version 1::

    {"format": "dalrn.evidence-envelope/1", "tenant": ..., "dispute": ..., "evidence": ...,
     "cipher": "AES-256-GCM", "nonce": b64, "ciphertext": b64,
     "recipients": [{"tenant": ..., "key_id": hex sha256 of the X25519 public key,
                     "ephemeral": b64, "nonce": b64, "wrapped_key": b64}, ...]}

Recipients are sorted by tenant. `read_header` checks the shape and returns the binding
without any key: the server uses it to see that an uploaded ciphertext belongs where it is
named, and learns nothing of the text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.podp.canonical import canonical_bytes

FORMAT = "dalrn.evidence-envelope/1"
CIPHER = "AES-256-GCM"
KEY_BYTES = 32
NONCE_BYTES = 12
X25519_BYTES = 32
WRAP_INFO = b"dalrn evidence data-key wrap v1"
MAX_ENVELOPE_BYTES = 256 * 1024  # a 20 000-character text, its tag and a few recipients fit many times
_HEADER_FIELDS = ("format", "tenant", "dispute", "evidence")
_FIELDS = {*_HEADER_FIELDS, "cipher", "nonce", "ciphertext", "recipients"}
_RECIPIENT_FIELDS = {"tenant", "key_id", "ephemeral", "nonce", "wrapped_key"}


def new_data_key() -> bytes:
    """A random 256-bit data key for one dispute."""
    return os.urandom(KEY_BYTES)


def key_id_of(public_key: bytes) -> str:
    """The id of an X25519 public key: hex sha256 of its 32 raw bytes."""
    return hashlib.sha256(public_key).hexdigest()


def public_bytes(private_key: X25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_bytes(private_key: X25519PrivateKey) -> bytes:
    return private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())


def parse_public_key(raw: bytes, *, field: str = "public_key") -> X25519PublicKey:
    """An X25519 public key from its 32 raw bytes; InputError naming `field` otherwise."""
    if len(raw) != X25519_BYTES:
        raise InputError.one(field, f"must be {X25519_BYTES} bytes (a raw X25519 public key), got {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class EnvelopeHeader:
    """Where an envelope belongs: the owner tenant, the dispute and the evidence item."""

    tenant: str
    dispute: str
    evidence: str
    recipients: tuple[str, ...]  # the tenants the data key is wrapped for

    def aad(self) -> bytes:
        return canonical_bytes({"format": FORMAT, "tenant": self.tenant, "dispute": self.dispute,
                                "evidence": self.evidence})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, field: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise IntegrityError(f"envelope {field}: must be base64 text")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError(f"envelope {field}: is not base64") from None
    if size is not None and len(raw) != size:
        raise IntegrityError(f"envelope {field}: must be {size} bytes, got {len(raw)}")
    return raw


def _wrap_aad(header: EnvelopeHeader, recipient: str, key_id: str, ephemeral: bytes) -> bytes:
    return canonical_bytes({"format": FORMAT, "tenant": header.tenant, "dispute": header.dispute,
                            "evidence": header.evidence, "recipient": recipient, "key_id": key_id,
                            "ephemeral": _b64(ephemeral)})


def _kek(shared_secret: bytes, ephemeral: bytes, recipient_public: bytes) -> bytes:
    """The key-encryption key: HKDF-SHA256 over the ECDH secret, salted with both public keys."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=ephemeral + recipient_public,
                info=WRAP_INFO).derive(shared_secret)


def _wrap(data_key: bytes, header: EnvelopeHeader, recipient: str, public_key: bytes) -> dict[str, str]:
    peer = parse_public_key(public_key, field=f"recipients.{recipient}")
    ephemeral_key = X25519PrivateKey.generate()
    ephemeral = public_bytes(ephemeral_key)
    kek = _kek(ephemeral_key.exchange(peer), ephemeral, public_key)
    key_id = key_id_of(public_key)
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, _wrap_aad(header, recipient, key_id, ephemeral))
    return {"tenant": recipient, "key_id": key_id, "ephemeral": _b64(ephemeral), "nonce": _b64(nonce),
            "wrapped_key": _b64(wrapped)}


def seal(text: str, *, data_key: bytes, tenant: str, dispute: str, evidence: str,
         recipients: Mapping[str, bytes]) -> bytes:
    """The envelope of `text`: sealed under `data_key`, the key wrapped for each recipient.

    Parameters
    ----------
    text : str
        The confidential evidence text.
    data_key : bytes
        The dispute's 32-byte data key (`new_data_key`).
    tenant, dispute, evidence : str
        The owner tenant, the dispute id and the evidence id the ciphertext is bound to.
    recipients : mapping of str to bytes
        Each tenant that may read the text and its raw X25519 public key; the owner must be
        among them, or it could not read its own evidence back.

    Returns
    -------
    bytes
        The canonical JSON envelope.
    """
    if len(data_key) != KEY_BYTES:
        raise InputError.one("data_key", f"must be {KEY_BYTES} bytes, got {len(data_key)}")
    if tenant not in recipients:
        raise InputError.one("recipients", f"must include the owner tenant {tenant!r}")
    if not text.strip():
        raise InputError.one("text", "must not be empty")
    header = EnvelopeHeader(tenant, dispute, evidence, tuple(sorted(recipients)))
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, text.encode("utf-8"), header.aad())
    envelope = {"format": FORMAT, "tenant": tenant, "dispute": dispute, "evidence": evidence, "cipher": CIPHER,
                "nonce": _b64(nonce), "ciphertext": _b64(ciphertext),
                "recipients": [_wrap(data_key, header, r, recipients[r]) for r in header.recipients]}
    return canonical_bytes(envelope)


def _parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_ENVELOPE_BYTES:
        raise IntegrityError(f"envelope: {len(data)} bytes, more than {MAX_ENVELOPE_BYTES}")
    try:
        envelope = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IntegrityError("envelope: is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise IntegrityError(f"envelope: is not a {FORMAT} envelope")
    if set(envelope) != _FIELDS:
        raise IntegrityError(f"envelope: fields must be exactly {sorted(_FIELDS)}")
    if canonical_bytes(envelope) != data:  # one content, one byte string, one CID
        raise IntegrityError("envelope: is not in canonical (RFC 8785) form")
    if envelope["cipher"] != CIPHER:
        raise IntegrityError(f"envelope cipher: must be {CIPHER}")
    for field in ("tenant", "dispute", "evidence"):
        if not isinstance(envelope[field], str) or not envelope[field]:
            raise IntegrityError(f"envelope {field}: must be a non-empty string")
    recipients = envelope["recipients"]
    if not isinstance(recipients, list) or not recipients:
        raise IntegrityError("envelope recipients: must be a non-empty list")
    names = []
    for i, entry in enumerate(recipients):
        if not isinstance(entry, dict) or set(entry) != _RECIPIENT_FIELDS:
            raise IntegrityError(f"envelope recipients[{i}]: fields must be exactly {sorted(_RECIPIENT_FIELDS)}")
        names.append(entry["tenant"])
    if names != sorted(set(names)) or envelope["tenant"] not in names:
        raise IntegrityError("envelope recipients: must be sorted, each tenant once, the owner among them")
    _unb64(envelope["nonce"], "nonce", NONCE_BYTES)
    _unb64(envelope["ciphertext"], "ciphertext")
    return envelope


def read_header(data: bytes) -> EnvelopeHeader:
    """What an envelope is bound to and who may open it, checked for shape; needs no key.

    Raises IntegrityError when `data` is not a well-formed version-1 envelope.
    """
    envelope = _parse(data)
    return EnvelopeHeader(envelope["tenant"], envelope["dispute"], envelope["evidence"],
                          tuple(r["tenant"] for r in envelope["recipients"]))


def unwrap_data_key(data: bytes, *, tenant: str, private_key: X25519PrivateKey) -> bytes:
    """The data key of an envelope, unwrapped with `tenant`'s X25519 private key.

    Raises InputError when the envelope holds no key for this tenant or this key pair, and
    IntegrityError when the wrapped key or its binding was altered.
    """
    envelope = _parse(data)
    header = EnvelopeHeader(envelope["tenant"], envelope["dispute"], envelope["evidence"],
                            tuple(r["tenant"] for r in envelope["recipients"]))
    entry = next((r for r in envelope["recipients"] if r["tenant"] == tenant), None)
    if entry is None:
        raise InputError.one("tenant", f"evidence {header.evidence} of dispute {header.dispute} is not "
                                       f"readable by tenant {tenant!r} (readers: {', '.join(header.recipients)})")
    own_public = public_bytes(private_key)
    if entry["key_id"] != key_id_of(own_public):
        raise InputError.one("key", f"the data key is wrapped for key {str(entry['key_id'])[:16]}, this tenant "
                                    f"holds key {key_id_of(own_public)[:16]}")
    ephemeral = _unb64(entry["ephemeral"], "ephemeral", X25519_BYTES)
    kek = _kek(private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral)), ephemeral, own_public)
    try:
        return AESGCM(kek).decrypt(_unb64(entry["nonce"], "recipients nonce", NONCE_BYTES),
                                   _unb64(entry["wrapped_key"], "wrapped_key"),
                                   _wrap_aad(header, tenant, entry["key_id"], ephemeral))
    except InvalidTag:
        raise IntegrityError(f"envelope of evidence {header.evidence}: the wrapped data key for {tenant} "
                             "does not authenticate (altered, or bound to another envelope)") from None


def open_envelope(data: bytes, *, tenant: str, private_key: X25519PrivateKey,
                  expect: tuple[str, str, str] | None = None) -> str:
    """The text in an envelope, for a recipient tenant holding its private key.

    `expect` = (owner tenant, dispute, evidence) refuses an envelope bound elsewhere before
    anything is decrypted. Raises IntegrityError when any byte of the ciphertext, its nonce
    or its binding was altered.
    """
    header = read_header(data)
    if expect is not None and (header.tenant, header.dispute, header.evidence) != expect:
        raise IntegrityError(f"envelope is bound to {header.tenant}/{header.dispute}/{header.evidence}, "
                             f"not {'/'.join(expect)}")
    data_key = unwrap_data_key(data, tenant=tenant, private_key=private_key)
    envelope = json.loads(data)
    try:
        plain = AESGCM(data_key).decrypt(_unb64(envelope["nonce"], "nonce", NONCE_BYTES),
                                         _unb64(envelope["ciphertext"], "ciphertext"), header.aad())
    except InvalidTag:
        raise IntegrityError(f"envelope of evidence {header.evidence}: the ciphertext does not authenticate "
                             "(altered, or moved from another dispute or item)") from None
    return plain.decode("utf-8")
