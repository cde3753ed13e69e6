"""The precedent index: FAISS over unit-norm embeddings, saved under its content id.

Kinds (inner product on L2-normalised vectors, so scores are cosine similarities):

- ``hnsw``: hierarchical navigable small-world graph, Malkov & Yashunin, "Efficient and
  robust approximate nearest neighbor search using HNSW graphs" (TPAMI 2018); defaults
  M=32, efConstruction=200, efSearch=128. FAISS has no GPU HNSW, so it stays on CPU.
- ``flat``: exact search (`IndexFlatIP`), the ground truth for recall.
- ``ivf``: inverted file over k-means cells (Jégou et al., "Product quantization for
  nearest neighbor search", TPAMI 2011, without the quantisation) for larger corpora.

`flat` and `ivf` move to the GPU when FAISS sees one (`faiss-gpu` extra).

Storage: ``data_dir()/index/<cid>/`` holds ``index.faiss``, ``vectors.f32``, ``ids.json``
and ``manifest.json``; the manifest lists each file's CID and the build parameters, and
the index CID is the CIDv1 of the manifest bytes, so a CID names exactly one index and a
tampered file is caught on load. Builds run FAISS on one thread so the same vectors and
parameters give the same bytes, hence the same CID.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import cid_of, parse_cid

FORMAT = "dalrn-precedent-index/1"
KINDS = ("hnsw", "flat", "ivf")
_FILES = ("index.faiss", "vectors.f32", "ids.json")


@dataclass(frozen=True)
class IndexParams:
    """Build and search parameters (tunable; the defaults meet recall@10 >= 0.97)."""

    kind: str = "hnsw"
    M: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int | None = None  # ivf cells; default about sqrt(n), at least 39 points a cell
    nprobe: int = 16

    def check(self) -> IndexParams:
        if self.kind not in KINDS:
            raise InputError.one("kind", f"must be one of {', '.join(KINDS)}")
        for name in ("M", "ef_construction", "ef_search", "nprobe"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError.one(name, "must be a positive integer")
        if self.nlist is not None and (not isinstance(self.nlist, int) or self.nlist < 1):
            raise InputError.one("nlist", "must be a positive integer")
        return self


def gpu_available() -> bool:
    """True when this FAISS build has CUDA and sees at least one GPU."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


@contextmanager
def one_thread() -> Iterator[None]:
    """Run FAISS single-threaded (deterministic builds, one-core latency)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _check_vectors(vectors: npt.ArrayLike, field: str,
                   dim: int | None = None) -> npt.NDArray[np.float32]:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise InputError.one(field, "must be a non-empty 2-D array (one vector per row)")
    if dim is not None and v.shape[1] != dim:
        raise InputError.one(field, f"rows have {v.shape[1]} values; the index has {dim}")
    if not np.all(np.isfinite(v)):
        raise InputError.one(field, "must hold finite numbers only")
    return np.ascontiguousarray(v)


def _new_index(vectors: npt.NDArray[np.float32], params: IndexParams) -> faiss.Index:
    n, d = vectors.shape
    index: faiss.Index
    if params.kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif params.kind == "hnsw":
        graph = faiss.IndexHNSWFlat(d, params.M, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = params.ef_construction
        index = graph
    else:
        nlist = params.nlist or max(1, min(round(math.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
    index.add(vectors)
    return index


def _searchable(index: faiss.Index, params: IndexParams) -> faiss.Index:
    """Set search-time knobs, and move GPU-capable kinds to the GPU when present."""
    # FAISS hands back the concrete class (also from deserialize_index), so the kind the
    # index was built as is its type.
    if params.kind == "hnsw":
        assert isinstance(index, faiss.IndexHNSW)
        index.hnsw.efSearch = params.ef_search
        return index
    if params.kind == "ivf":
        assert isinstance(index, faiss.IndexIVF)
        index.nprobe = params.nprobe
    if gpu_available():
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return index


class PrecedentIndex:
    """Nearest precedents of query embeddings, by id, with exact search beside it."""

    def __init__(self, index: faiss.Index, ids: list[str], vectors: npt.NDArray[np.float32],
                 params: IndexParams, meta: dict[str, Any] | None = None,
                 cid: str | None = None) -> None:
        self.cpu_index, self.ids, self.vectors = index, list(ids), vectors
        self.params, self.meta, self.cid = params, dict(meta or {}), cid
        self.index = _searchable(index, params)
        self._exact: faiss.Index | None = None
        self._id_array = np.asarray(self.ids + [""], dtype=object)  # -1 maps to ""

    @classmethod
    def build(cls, vectors: npt.ArrayLike, ids: Iterable[object],
              params: IndexParams | None = None, meta: dict[str, Any] | None = None,
              **overrides: Any) -> PrecedentIndex:
        """Index `vectors` (rows of unit norm), row i named `ids[i]`."""
        params = replace(params or IndexParams(), **overrides).check()
        v = _check_vectors(vectors, "vectors")
        names = [str(i) for i in ids]
        if len(names) != len(v):
            raise InputError.one("ids", f"has {len(names)} entries for {len(v)} vectors")
        if len(set(names)) != len(names):
            raise InputError.one("ids", "must be unique")
        with one_thread():
            index = _new_index(v, params)
        return cls(index, names, v, params, meta)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def search_positions(self, query_vectors: npt.ArrayLike, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row positions), both shape (queries, k), best first; -1 pads."""
        q = _check_vectors(query_vectors, "query_vectors", self.dim)
        return self.index.search(q, _check_k(k, len(self)))

    def search(self, query_vectors: npt.ArrayLike, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(scores, precedent ids), both shape (queries, k), best first."""
        scores, rows = self.search_positions(query_vectors, k)
        return scores, self._id_array[rows]

    def exact_positions(self, query_vectors: npt.ArrayLike,
                        k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k by brute force (`IndexFlatIP`): the ground truth for recall."""
        if self._exact is None:
            flat = IndexParams(kind="flat")
            self._exact = _searchable(_new_index(self.vectors, flat), flat)
        exact = self._exact
        q = _check_vectors(query_vectors, "query_vectors", self.dim)
        return exact.search(q, _check_k(k, len(self)))

    def save(self, root: str | Path | None = None, *, make_latest: bool = True) -> str:
        """Write the index under its CID and return the CID (idempotent)."""
        root = Path(root) if root is not None else sub_dir("index")
        blobs = {"index.faiss": faiss.serialize_index(self.cpu_index).tobytes(),
                 "vectors.f32": self.vectors.astype("<f4").tobytes(),
                 "ids.json": json.dumps(self.ids).encode()}
        manifest = {"format": FORMAT, "count": len(self), "dim": self.dim,
                    "params": asdict(self.params), "meta": self.meta,
                    "files": {name: cid_of(blob) for name, blob in blobs.items()}}
        body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        cid = cid_of(body)
        target = root / cid
        if not target.exists():
            staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
            try:
                for name, blob in {**blobs, "manifest.json": body}.items():
                    (staging / name).write_bytes(blob)
                os.replace(staging, target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not target.exists():
                    raise
        if make_latest:
            write_bytes_atomic(root / "LATEST", cid.encode())
        self.cid = cid
        return cid

    @classmethod
    def load(cls, cid: str, root: str | Path | None = None) -> PrecedentIndex:
        """Read an index by CID, checking every file against the manifest."""
        parse_cid(cid)
        root = Path(root) if root is not None else sub_dir("index")
        folder = root / cid
        if not (folder / "manifest.json").exists():
            raise InputError.one("cid", f"no index {cid} under {root}")
        body = (folder / "manifest.json").read_bytes()
        if cid_of(body) != cid:
            raise IntegrityError(f"index {cid}: manifest does not match its CID")
        manifest = json.loads(body)
        blobs = {}
        for name in _FILES:
            blobs[name] = (folder / name).read_bytes()
            if cid_of(blobs[name]) != manifest["files"][name]:
                raise IntegrityError(f"index {cid}: {name} does not match the manifest")
        index = faiss.deserialize_index(np.frombuffer(blobs["index.faiss"], dtype=np.uint8))
        vectors = np.frombuffer(blobs["vectors.f32"], dtype="<f4").reshape(
            manifest["count"], manifest["dim"]).astype(np.float32)
        return cls(index, json.loads(blobs["ids.json"]), vectors,
                   IndexParams(**manifest["params"]), manifest["meta"], cid)

    @classmethod
    def open(cls, cid: str, root: str | Path | None = None) -> PrecedentIndex:
        """`load`, memoised per process: an index never changes under its CID."""
        key = (str(Path(root).resolve()) if root is not None else str(sub_dir("index")), cid)
        with _OPEN_LOCK:
            if key not in _OPEN:
                _OPEN[key] = cls.load(cid, root)
                while len(_OPEN) > 4:
                    _OPEN.pop(next(iter(_OPEN)))
            return _OPEN[key]

    @classmethod
    def latest(cls, root: str | Path | None = None) -> PrecedentIndex | None:
        """The most recently saved index, or None when none was built yet."""
        cid = cls.latest_cid(root)
        return None if cid is None else cls.load(cid, root)

    @staticmethod
    def latest_cid(root: str | Path | None = None) -> str | None:
        """The CID of the most recently saved index, or None."""
        root = Path(root) if root is not None else sub_dir("index")
        pointer = root / "LATEST"
        return pointer.read_text().strip() if pointer.exists() else None


_OPEN: dict[tuple[str, str], PrecedentIndex] = {}  # (index folder, CID) -> loaded index
_OPEN_LOCK = threading.Lock()


def _check_k(k: int, n: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError.one("k", "must be a positive integer")
    return min(k, n)
