"""A tenant's CKKS keys: generated and kept by the tenant, only the public part leaves.

The tenant creates a TenSEAL CKKS context (ring degree 8192, coefficient moduli
[60, 40, 40, 60] bits, scale 2^40: 128-bit security by the HomomorphicEncryption.org
standard, two multiplicative levels) and keeps the secret key in its own file. The server
receives `public_context()`: the public, relinearisation and Galois (rotation) keys, with
no secret key, so it can compute on ciphertexts and cannot decrypt them.

Every key pair carries `created_at` and `expires_at` (30 days later by default). `key_id`
is the sha256 of the public context bytes, so the server can name a key without holding
anything secret, and a rotated key has a different id.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

import numpy as np
import numpy.typing as npt
import tenseal as ts
from tenseal import sealapi

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.search import ckks, wire

DEFAULT_LIFETIME = timedelta(days=30)
_FILE_MAGIC = b"DALRN-TENANT-KEYS\x01"


def key_id_of(public_context: bytes) -> str:
    """The id of a key: hex sha256 of its serialised public context."""
    return hashlib.sha256(public_context).hexdigest()


class CKKSParams(TypedDict):
    """The parameters a key pair was generated with (kept so rotation reuses them)."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int


@dataclass
class TenantKeys:
    """A tenant's CKKS context with its secret key, and the public bytes given out."""

    context: ts.Context
    public_bytes: bytes
    created_at: datetime
    expires_at: datetime
    params: CKKSParams

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_bytes)

    @classmethod
    def generate(cls, poly_modulus_degree: int = 8192,
                 coeff_mod_bit_sizes: tuple[int, ...] = (60, 40, 40, 60),
                 scale_bits: int = 40, lifetime: timedelta = DEFAULT_LIFETIME,
                 now: datetime | None = None) -> TenantKeys:
        """New keys: secret, public, relinearisation and power-of-two rotation keys."""
        if lifetime <= timedelta(0):
            raise InputError.one("lifetime", "must be positive")
        context = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree,
                             coeff_mod_bit_sizes=list(coeff_mod_bit_sizes))
        context.global_scale = 2.0 ** scale_bits
        context.generate_galois_keys()
        public = context.copy()
        public.make_context_public()
        created = _utc(now)
        params = CKKSParams(poly_modulus_degree=poly_modulus_degree,
                            coeff_mod_bit_sizes=tuple(coeff_mod_bit_sizes), scale_bits=scale_bits)
        return cls(context, public.serialize(), created, created + lifetime, params)

    def public_context(self) -> bytes:
        """What the server gets: every key but the secret one."""
        return self.public_bytes

    def is_active(self, now: datetime | None = None) -> bool:
        """True until `expires_at`."""
        return _utc(now) < self.expires_at

    def rotate(self, lifetime: timedelta = DEFAULT_LIFETIME,
               now: datetime | None = None) -> TenantKeys:
        """Fresh keys with the same parameters; the caller retires this key's id."""
        return TenantKeys.generate(**self.params, lifetime=lifetime, now=now)

    def encrypt_query(self, vector: npt.ArrayLike) -> bytes:
        """Encrypt a query vector for `dalrn_core.search.encrypted.encrypted_scores`."""
        v = np.asarray(vector, dtype=np.float64)
        if v.ndim != 1 or v.size == 0:
            raise InputError.one("vector", "must be a non-empty 1-D vector")
        if not np.all(np.isfinite(v)):
            raise InputError.one("vector", "must hold finite numbers only")
        seal = self.context.seal_context().data
        encoder = sealapi.CKKSEncoder(seal)
        if (v.size + 1) // 2 > encoder.slot_count():
            raise InputError.one("vector", f"has {v.size} values; at most "
                                 f"{2 * encoder.slot_count()} fit one ciphertext")
        plain, cipher = sealapi.Plaintext(), sealapi.Ciphertext()
        encoder.encode(ckks.pack_query(v, encoder.slot_count()).tolist(),
                       self.context.global_scale, plain)
        sealapi.Encryptor(seal, self.context.public_key().data).encrypt(plain, cipher)
        return wire.pack(wire.QUERY, self.key_id, v.size, ckks.to_bytes(cipher))

    def decrypt_scores(self, scores: list[bytes]) -> np.ndarray:
        """Decrypt the server's score ciphertexts: one float per document row, in order."""
        seal = self.context.seal_context().data
        encoder = sealapi.CKKSEncoder(seal)
        decryptor = sealapi.Decryptor(seal, self.context.secret_key().data)
        parts = []
        for i, blob in enumerate(scores):
            key_id, rows, body = wire.unpack(wire.SCORES, blob, field=f"scores[{i}]")
            if key_id != self.key_id:
                raise InputError.one(f"scores[{i}]", f"was computed under key {key_id[:16]}, "
                                     f"not this tenant's key {self.key_id[:16]}")
            cipher = ckks.ciphertext_from_bytes(seal, body)
            plain = sealapi.Plaintext()
            decryptor.decrypt(cipher, plain)
            slots = np.asarray(encoder.decode_complex(plain))
            if rows > len(slots):
                raise IntegrityError(f"scores[{i}] claims {rows} rows in {len(slots)} slots")
            parts.append(slots[:rows].real)
        return np.concatenate(parts) if parts else np.zeros(0)

    def save(self, path: str | Path) -> Path:
        """Write the keys, secret included, to a file only the owner can read."""
        path = Path(path)
        private = self.context.serialize(save_public_key=True, save_secret_key=True,
                                         save_galois_keys=False, save_relin_keys=False)
        header = json.dumps({"key_id": self.key_id,
                             "created_at": self.created_at.isoformat(),
                             "expires_at": self.expires_at.isoformat(),
                             "params": self.params}).encode()
        blob = b"".join([_FILE_MAGIC, *(struct.pack(">Q", len(p)) + p
                                        for p in (header, private, self.public_bytes))])
        write_bytes_atomic(path, blob, mode=0o600)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TenantKeys:
        """Read keys written by `save`; checks the public part still matches its id."""
        blob = Path(path).read_bytes()
        if not blob.startswith(_FILE_MAGIC):
            raise InputError.one("path", f"{path} is not a DALRN tenant key file")
        parts, at = [], len(_FILE_MAGIC)
        for _ in range(3):
            (size,) = struct.unpack_from(">Q", blob, at)
            parts.append(blob[at + 8:at + 8 + size])
            at += 8 + size
        header, private, public = json.loads(parts[0]), parts[1], parts[2]
        if key_id_of(public) != header["key_id"]:
            raise IntegrityError(f"tenant key file {path}: public context does not match "
                                 f"key id {header['key_id']}")
        stored = header["params"]
        return cls(ts.context_from(private), public,
                   datetime.fromisoformat(header["created_at"]),
                   datetime.fromisoformat(header["expires_at"]),
                   CKKSParams(poly_modulus_degree=stored["poly_modulus_degree"],
                              coeff_mod_bit_sizes=tuple(stored["coeff_mod_bit_sizes"]),
                              scale_bits=stored["scale_bits"]))


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise InputError.one("now", "must be timezone-aware")
    return now.astimezone(UTC)
