"""Versioned storage of networks and predictor weights, each named by its sha256.

Layout under the data folder:

    soan/networks/<sha256>.json    graph + load, content-addressed; `current` names the live one
    soan/models/<sha256>.pt        predictor weights and scaling; `latest` names the newest

A version's name is the sha256 of its bytes, so reading one back re-hashes it and a
changed file is refused (`IntegrityError`). Files are written to a temporary name and
renamed, so a reader never sees half a version.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import torch

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.soan.gcn import GCNTrainConfig, LatencyGCN, Predictor
from dalrn_core.soan.network import NetworkState, check_graph, skewed_state
from dalrn_core.soan.topology import small_world


def _read_verified(folder: Path, digest: str, suffix: str) -> bytes:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError.one("hash", "must be 64 lowercase hex digits")
    path = folder / f"{digest}{suffix}"
    if not path.exists():
        raise InputError.one("hash", f"no stored version {digest[:12]}...")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise IntegrityError(f"{path.name}: content does not match its sha256 name")
    return data


# -- networks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkVersion:
    """One stored network: its hash, graph, load and the version it was rewired from."""

    hash: str
    graph: nx.Graph
    state: NetworkState
    parent: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def networks_dir() -> Path:
    return sub_dir("soan", "networks")


def save_network(
    graph: nx.Graph,
    state: NetworkState,
    *,
    parent: str | None = None,
    meta: dict[str, Any] | None = None,
    make_current: bool = True,
) -> str:
    """Store a network version and (by default) point `current` at it; returns its hash."""
    check_graph(graph, state)
    edges = sorted([min(u, v), max(u, v)] for u, v in graph.edges())
    doc = {
        "n": state.n,
        "edges": edges,
        "state": state.to_dict(),
        "parent": parent,
        "meta": meta or {},
    }
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    folder = networks_dir()
    write_bytes_atomic(folder / f"{digest}.json", data)
    if make_current:
        write_bytes_atomic(folder / "current", digest.encode())
    return digest


def load_network(digest: str) -> NetworkVersion:
    """Read a stored network version back, checking its hash."""
    doc = json.loads(_read_verified(networks_dir(), digest, ".json"))
    graph = nx.Graph()
    graph.add_nodes_from(range(doc["n"]))
    graph.add_edges_from(tuple(e) for e in doc["edges"])
    return NetworkVersion(
        digest, graph, NetworkState.from_dict(doc["state"]), doc["parent"], doc["meta"]
    )


def default_network() -> tuple[nx.Graph, NetworkState]:
    """The network a fresh data folder starts with: the default small world under a hotspot."""
    graph = small_world(100, 6, 0.1, seed=0)
    return graph, skewed_state(graph)


def load_current_network() -> NetworkVersion:
    """The live network; on a fresh data folder the default one is stored and returned."""
    pointer = networks_dir() / "current"
    if not pointer.exists():
        graph, state = default_network()
        save_network(graph, state, meta={"origin": "default small world"})
    return load_network(pointer.read_text().strip())


# -- predictor weights --------------------------------------------------------------------


def models_dir() -> Path:
    return sub_dir("soan", "models")


def save_predictor(predictor: Predictor, metrics: dict[str, Any] | None = None) -> str:
    """Store weights, scaling and training record; point `latest` at them; returns the hash."""
    buffer = io.BytesIO()
    torch.save(
        {
            "state_dict": predictor.model.state_dict(),
            "in_features": int(predictor.x_mean.shape[0]),
            "x_mean": torch.from_numpy(predictor.x_mean.astype(np.float32)),
            "x_std": torch.from_numpy(predictor.x_std.astype(np.float32)),
            "config": json.dumps(asdict(predictor.config)),
            "train_seeds": list(predictor.train_seeds),
            "metrics": json.dumps(metrics or {}),
        },
        buffer,
    )
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    folder = models_dir()
    write_bytes_atomic(folder / f"{digest}.pt", data)
    write_bytes_atomic(folder / "latest", digest.encode())
    return digest


def load_predictor(digest: str | None = None) -> Predictor | None:
    """Load a stored predictor (default: the latest); None when none was ever saved."""
    folder = models_dir()
    if digest is None:
        pointer = folder / "latest"
        if not pointer.exists():
            return None
        digest = pointer.read_text().strip()
    blob = torch.load(io.BytesIO(_read_verified(folder, digest, ".pt")), weights_only=True)
    config = GCNTrainConfig(**json.loads(blob["config"]))
    model = LatencyGCN(blob["in_features"], config.hidden, config.plain)
    model.load_state_dict(blob["state_dict"])
    return Predictor(
        model, blob["x_mean"].numpy(), blob["x_std"].numpy(), config, list(blob["train_seeds"])
    )
