"""Encrypted inner products of one query against many documents (CKKS, diagonal method).

The server holds plaintext document vectors (rows of ``M``, ``n x d``) and one CKKS
ciphertext of the query ``q``; it returns ciphertexts whose slots hold ``M @ q``.

Algorithm: the diagonal method of Halevi & Shoup, "Algorithms in HElib" (CRYPTO 2014),
with the baby-step giant-step split of Halevi & Shoup, "Faster homomorphic linear
transformations in HElib" (CRYPTO 2018), adapted to a tall matrix and complex slots:

1. Complex packing: pair coordinates as ``z_m = q[2m] + i q[2m+1]`` (``h = ceil(d/2)``
   values). For a document row ``x``, ``Re(z_m * (x[2m] - i x[2m+1])) = q[2m] x[2m] +
   q[2m+1] x[2m+1]``, so summing the real parts over ``m`` gives ``<q, x>`` with half the
   plaintext products of real packing.
2. The tenant replicates ``z`` cyclically over all ``S`` slots. Rotating it left by ``k``
   puts ``z[(i+k) mod h]`` in slot ``i`` for every ``i < S - k``, so a chunk of
   ``R = S - h + 1`` documents fits one ciphertext (slot ``i`` = document ``i``). This is
   the same limit past which TenSEAL's vector-matrix product silently returns wrong
   values; larger corpora are cut into chunks of ``R`` rows.
3. Chunk output ``y = sum_k diag_k * rot(z, k)`` with ``diag_k[i] = conj-pair of row i at
   column (i+k) mod h``. Baby-step giant-step: ``k = jB + b``; the ``B`` baby rotations of
   the query are shared by every chunk, and each chunk needs ``G - 1`` giant rotations of
   partial sums (plaintext diagonals are pre-rotated by ``-jB`` in NumPy, for free).
4. Products stay at scale ``2^(2 * 40)`` without rescaling (one level is dropped from the
   query first, which makes every later operation cheaper); the tenant's decoder divides
   by the ciphertext's own scale.

Operation count for ``n`` documents: ``B - 1 + chunks * (G - 1)`` rotations and
``chunks * h`` plaintext encodings and products, with ``chunks = ceil(n / R)``.

The plaintext encodings depend on the documents and the public parameters only, never on a
key, so they are kept per process (`encoded_corpora`) and every tenant, dispute and thread
scoring the same index version under the same parameters shares one encoding.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tenseal import sealapi

from dalrn_core.settings import setting

# Bandit B108 skipped: /dev/shm is only the folder; mkstemp makes each private, unique file.
_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None  # nosec B108


@dataclass(frozen=True)
class Packing:
    """How a query of `dim` values and `n_docs` documents are laid out in `slots` slots."""

    slots: int
    dim: int
    n_docs: int

    @property
    def half(self) -> int:
        """Complex values per query: coordinates paired two to a slot."""
        return (self.dim + 1) // 2

    @property
    def rows_per_chunk(self) -> int:
        """Documents per output ciphertext: slots whose rotations stay inside one period."""
        return self.slots - self.half + 1

    @property
    def chunks(self) -> int:
        return max(1, math.ceil(self.n_docs / self.rows_per_chunk))

    @property
    def baby(self) -> int:
        """Baby steps B, chosen to minimise B - 1 + chunks * (G - 1) rotations."""
        return max(1, min(self.half, math.ceil(math.sqrt(self.half * self.chunks))))

    @property
    def giant(self) -> int:
        return math.ceil(self.half / self.baby)


def pack_query(vector: np.ndarray, slots: int) -> np.ndarray:
    """The tenant's slot vector: coordinates paired as complex values, repeated cyclically."""
    v = np.asarray(vector, dtype=np.float64)
    if len(v) % 2:
        v = np.append(v, 0.0)
    z = v[0::2] + 1j * v[1::2]
    return np.resize(z, slots)


def _conjugate_pairs(rows: np.ndarray, packing: Packing) -> np.ndarray:
    """Rows as ``x[2m] - i x[2m+1]``, zero-padded to one row per slot."""
    x = np.zeros((packing.slots, 2 * packing.half))
    x[: len(rows), : rows.shape[1]] = rows
    return x[:, 0::2] - 1j * x[:, 1::2]


def _diagonals(conj: np.ndarray, packing: Packing, j: int) -> npt.NDArray[np.complex128]:
    """Plaintext diagonals ``jB .. jB+B-1`` of one chunk, pre-rotated right by ``jB``.

    Entry ``[b, i]`` is ``conj[(i - jB) mod S]`` at complex column
    ``((i - jB) mod S + jB + b) mod h``; rows past the chunk are zero.
    """
    S, h, B = packing.slots, packing.half, packing.baby
    slot = np.arange(S)
    src = (slot - j * B) % S
    ks = j * B + np.arange(B)
    ks = ks[ks < h]
    diagonals: npt.NDArray[np.complex128] = conj[src[None, :], (src[None, :] + ks[:, None]) % h]
    return diagonals


# Plaintext diagonals of a corpus: [chunk][giant step][baby step], ready for multiply_plain.
EncodedCorpus = list[list[list[sealapi.Plaintext]]]
# (corpus version, documents' shape, the level's parms_id, scale, slots): everything the
# encoding depends on. The parms_id is SEAL's hash of the encryption parameters at that
# level, so it names the context parameters and is the same for every tenant's key.
_CorpusKey = tuple[str, tuple[int, ...], tuple[int, ...], float, int]


class Evaluator:
    """Server-side CKKS arithmetic over a public TenSEAL context (no secret key)."""

    def __init__(self, seal_context: sealapi.SEALContext, galois_keys: sealapi.GaloisKeys) -> None:
        self.context = seal_context
        self.galois = galois_keys
        self.encoder = sealapi.CKKSEncoder(seal_context)
        self.evaluator = sealapi.Evaluator(seal_context)
        self.slots: int = self.encoder.slot_count()

    def scores(self, query: sealapi.Ciphertext, documents: np.ndarray, scale: float,
               corpus_version: str | None = None) -> list[sealapi.Ciphertext]:
        """Ciphertexts whose first rows-per-chunk slots hold real parts of chunk scores.

        `corpus_version` names the documents for the encoding cache (an index CID, which
        changes whenever they do); without it the documents' sha256 names them.
        """
        ev = self.evaluator
        packing = Packing(self.slots, documents.shape[1], len(documents))
        B = packing.baby
        top = query
        if _can_drop_level(self.context, query):
            top = sealapi.Ciphertext()
            ev.mod_switch_to_next(query, top)
        baby = [top]
        for _ in range(1, B):
            nxt = sealapi.Ciphertext()
            ev.rotate_vector(baby[-1], 1, self.galois, nxt)
            baby.append(nxt)
        plains = self._encoded(documents, packing, top.parms_id(), scale, corpus_version)
        out: list[sealapi.Ciphertext] = []
        product = sealapi.Ciphertext()
        for chunk in plains:
            acc = None
            for j, group in enumerate(chunk):
                inner = sealapi.Ciphertext()
                ev.multiply_plain(baby[0], group[0], inner)
                for b in range(1, len(group)):
                    ev.multiply_plain(baby[b], group[b], product)
                    ev.add_inplace(inner, product)
                if j:
                    ev.rotate_vector_inplace(inner, j * B, self.galois)
                if acc is None:
                    acc = inner
                else:
                    ev.add_inplace(acc, inner)
            out.append(acc)
        return out

    def _encoded(self, documents: np.ndarray, packing: Packing, parms: list[int], scale: float,
                 corpus_version: str | None) -> EncodedCorpus:
        """Plaintext diagonals per chunk and giant step, encoded once per process.

        Encoding is most of the cost of a cold call and depends only on the documents and
        the public parameters (never on a key), so one encoding serves every tenant.
        """
        version = corpus_version or "sha256:" + hashlib.sha256(
            np.ascontiguousarray(documents).tobytes()).hexdigest()
        key: _CorpusKey = (version, tuple(documents.shape), tuple(parms), float(scale),
                           self.slots)
        return encoded_corpora.get_or_encode(
            key, lambda: self._encode(documents, packing, parms, scale))

    def _encode(self, documents: np.ndarray, packing: Packing, parms: list[int],
                scale: float) -> tuple[EncodedCorpus, int]:
        """The plaintext diagonals of `documents` and their size in bytes."""
        R = packing.rows_per_chunk
        plains: EncodedCorpus = []
        for c in range(packing.chunks):
            conj = _conjugate_pairs(documents[c * R:(c + 1) * R], packing)
            chunk: list[list[sealapi.Plaintext]] = []
            for j in range(packing.giant):
                group: list[sealapi.Plaintext] = []
                for diag in _diagonals(conj, packing, j):
                    plain = sealapi.Plaintext()
                    self.encoder.encode(diag.tolist(), parms, scale, plain)
                    group.append(plain)
                chunk.append(group)
            plains.append(chunk)
        primes = _prime_count(self.context.get_context_data(parms))
        # One plaintext per diagonal (half of them per chunk), each a polynomial of
        # 2 * slots coefficients per prime of the level, 8 bytes a coefficient.
        return plains, packing.chunks * packing.half * self.slots * 2 * primes * 8


class EncodedCorpusCache:
    """Encoded corpora of this process, least recently used out first, bounded in bytes.

    Shared by every thread: a corpus that is missing is encoded once, and threads asking
    for it meanwhile wait for that encoding instead of repeating it. A corpus larger than
    the bound is encoded for each call and never kept.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.encodings = 0  # corpora encoded so far: each cold call adds one, a hit none
        self._lock = threading.Lock()
        self._items: OrderedDict[_CorpusKey, tuple[EncodedCorpus, int]] = OrderedDict()
        self._bytes = 0
        self._pending: dict[_CorpusKey, threading.Event] = {}

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get_or_encode(self, key: _CorpusKey,
                      encode: Callable[[], tuple[EncodedCorpus, int]]) -> EncodedCorpus:
        """The corpus kept under `key`, else `encode()`'s (value, size in bytes), kept."""
        while True:
            with self._lock:
                kept = self._items.get(key)
                if kept is not None:
                    self._items.move_to_end(key)
                    return kept[0]
                other = self._pending.get(key)
                if other is None:
                    mine = self._pending[key] = threading.Event()
                    break
            other.wait()  # then look again: kept now, or not kept (too large, or it failed)
        try:
            value, size = encode()
            with self._lock:
                self.encodings += 1
                if size <= self.max_bytes:
                    self._items[key] = (value, size)
                    self._bytes += size
                    while self._bytes > self.max_bytes:
                        _, (_, dropped) = self._items.popitem(last=False)
                        self._bytes -= dropped
            return value
        finally:
            with self._lock:
                del self._pending[key]
            mine.set()


encoded_corpora = EncodedCorpusCache(int(setting("ckks_plaintext_cache_mb")) << 20)  # DALRN_CKKS_PLAINTEXT_CACHE_MB


def _prime_count(context_data: sealapi.SEALContext.ContextData) -> int:
    """Primes in a level's modulus (bit counts differ per prime, so count levels below)."""
    count, data = 1, context_data.next_context_data()
    while data is not None:
        count, data = count + 1, data.next_context_data()
    return count


def _can_drop_level(seal_context: sealapi.SEALContext, ciphertext: sealapi.Ciphertext) -> bool:
    """True when the ciphertext has a level below it that still holds a 2^80 product.

    Dropping a prime is free precision-wise while the remaining modulus exceeds the
    product scale by a margin (here: 20 bits for values up to about 2^19).
    """
    data = seal_context.get_context_data(ciphertext.parms_id())
    nxt = data.next_context_data() if data is not None else None
    if nxt is None:
        return False
    bits: int = nxt.total_coeff_modulus_bit_count()
    return bits >= 2 * math.log2(ciphertext.scale) + 20


def _tmp_path() -> str:
    fd, path = tempfile.mkstemp(dir=_TMP, prefix="dalrn-ckks-")
    os.close(fd)
    return path


def to_bytes(obj: sealapi.Ciphertext | sealapi.Plaintext) -> bytes:
    """SEAL's own serialisation (compressed) of a ciphertext or plaintext, as bytes.

    The Python binding only saves to a path, so a private temporary file (in RAM where
    /dev/shm exists) carries the bytes and is removed at once.
    """
    path = _tmp_path()
    try:
        obj.save(path)
        return Path(path).read_bytes()
    finally:
        os.unlink(path)


def ciphertext_from_bytes(seal_context: sealapi.SEALContext, data: bytes) -> sealapi.Ciphertext:
    """Load a SEAL ciphertext; SEAL validates it against the context's parameters."""
    path = _tmp_path()
    try:
        Path(path).write_bytes(data)
        ct = sealapi.Ciphertext()
        ct.load(seal_context, path)
        return ct
    finally:
        os.unlink(path)
