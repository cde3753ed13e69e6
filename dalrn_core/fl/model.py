"""The shared settlement-acceptance model and how its parameters travel.

A logistic regression (hidden=0) or a one-hidden-layer MLP over `data.FEATURES`, in torch.
Parameters travel as a list of numpy arrays (Flower's NDArrays), in `state_dict` order; the
robust aggregators see them flattened into one vector. The global model's identity is the
SHA-256 of a canonical serialisation of those arrays, which is what gets anchored on chain.
"""

from __future__ import annotations

import hashlib
import struct
from typing import TypedDict

import numpy as np
import torch
from torch import nn

from dalrn_core.errors import InputError
from dalrn_core.fl.data import FEATURES

N_FEATURES = len(FEATURES)


class RoundMetrics(TypedDict):
    """The global model's score on held-out rows after a round (round 0: the initial model)."""

    round: int
    loss: float
    accuracy: float


def build_model(hidden: int = 0, seed: int = 0) -> nn.Module:
    """A fresh model: logistic regression (hidden=0) or a ReLU MLP with `hidden` units.

    The logistic regression starts at zero (a convex problem needs no random start); the
    MLP draws its start from a generator seeded by `seed`, so every party builds the same
    initial global model.
    """
    if isinstance(hidden, bool) or not isinstance(hidden, int) or not 0 <= hidden <= 1024:
        raise InputError.one("hidden", "must be an integer between 0 and 1024")
    if hidden == 0:
        model: nn.Module = nn.Sequential(nn.Linear(N_FEATURES, 1))
        for p in model.parameters():
            nn.init.zeros_(p)
        return model
    model = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 1))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            bound = 1.0 / np.sqrt(p.shape[-1] if p.dim() > 1 else hidden)
            p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=gen))
    return model


def get_parameters(model: nn.Module) -> list[np.ndarray]:
    """The model's parameters as float32 numpy arrays, in state_dict order."""
    return [v.detach().cpu().numpy().astype(np.float32, copy=True)
            for v in model.state_dict().values()]


def set_parameters(model: nn.Module, arrays: list[np.ndarray]) -> None:
    """Load `arrays` (state_dict order) into `model`, checking count and shapes."""
    keys = list(model.state_dict().keys())
    if len(arrays) != len(keys):
        raise InputError.one("parameters", f"expected {len(keys)} arrays, got {len(arrays)}")
    state = {}
    for i, (key, value) in enumerate(zip(keys, arrays)):
        expected = tuple(model.state_dict()[key].shape)
        if tuple(np.shape(value)) != expected:
            raise InputError.one(f"parameters[{i}]", f"shape must be {expected}")
        state[key] = torch.as_tensor(np.asarray(value, dtype=np.float32))
    model.load_state_dict(state)


def flatten(arrays: list[np.ndarray]) -> np.ndarray:
    """All arrays concatenated into one float64 vector (what the aggregators take)."""
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def unflatten(vector: np.ndarray, like: list[np.ndarray]) -> list[np.ndarray]:
    """Split `vector` back into arrays shaped like `like` (float32)."""
    sizes = [int(np.prod(a.shape)) for a in like]
    if vector.ndim != 1 or vector.size != sum(sizes):
        raise InputError.one("vector", f"must be 1-D with {sum(sizes)} values")
    out, start = [], 0
    for a, size in zip(like, sizes):
        out.append(vector[start:start + size].reshape(a.shape).astype(np.float32))
        start += size
    return out


def model_hash(arrays: list[np.ndarray]) -> str:
    """SHA-256 (hex) of the parameters: for each array, its shape then float32 LE bytes.

    Shapes are in the hash so that two models whose values coincide but whose layers differ
    never share a hash; values are cast to float32 little-endian so that the hash does not
    depend on the machine.
    """
    digest = hashlib.sha256(b"dalrn-fl-model-v1")
    digest.update(struct.pack("<I", len(arrays)))
    for a in arrays:
        a = np.asarray(a)
        digest.update(struct.pack("<I", a.ndim))
        digest.update(struct.pack(f"<{a.ndim}Q", *a.shape))
        digest.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return digest.hexdigest()


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean binary cross-entropy, accuracy) of `model` on (x, y)."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor(x, dtype=torch.float32)).squeeze(-1)
        target = torch.tensor(y, dtype=torch.float32)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target).item()
        accuracy = ((logits > 0).float() == target).float().mean().item()
    if not np.isfinite(loss):
        loss = float("inf")
    return float(loss), float(accuracy)
