import hashlib
import re
import struct

import numpy as np
import pandas as pd
import pytest

from dalrn_core.errors import InputError
from dalrn_core.fl.data import FEATURES, LABEL, make_silos, make_test_set, to_arrays
from dalrn_core.fl.model import (
    build_model,
    flatten,
    get_parameters,
    model_hash,
    set_parameters,
    unflatten,
)


def test_silos_are_reproducible_and_seed_dependent():
    a, b = make_silos(5, seed=0), make_silos(5, seed=0)
    assert [f["firm"].unique().tolist() for f in a] == [[f"firm-{i}"] for i in range(5)]
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    assert not make_silos(5, seed=1)[0].equals(a[0])
    assert list(a[0].columns) == [*FEATURES, LABEL, "firm"]
    assert set(np.unique(a[0][LABEL])) == {0, 1}


def test_silos_have_different_distributions():
    frames = make_silos(5, seed=0, n_rows=2000)
    means = np.stack([f[list(FEATURES)].mean().to_numpy() for f in frames])
    # Between-silo spread of the claim size dwarfs its sampling error (~0.6/sqrt(2000)).
    assert means[:, 0].std() > 0.2
    rates = [f[LABEL].mean() for f in frames]
    assert max(rates) - min(rates) > 0.1


def test_test_set_is_disjoint_from_training_rows():
    train = pd.concat(make_silos(3, seed=0, n_rows=50))
    test = make_test_set(3, seed=0, n_rows=50)
    merged = train[list(FEATURES)].merge(test[list(FEATURES)], how="inner")
    assert merged.empty


def test_make_silos_rejects_bad_sizes():
    with pytest.raises(InputError) as err:
        make_silos(0)
    assert err.value.problems[0].field == "n_silos"


def test_parameters_round_trip_and_hash():
    model = build_model(hidden=8, seed=3)
    params = get_parameters(model)
    assert [p.shape for p in params] == [(8, 6), (8,), (1, 8), (1,)]
    again = unflatten(flatten(params), params)
    for p, q in zip(params, again):
        np.testing.assert_array_equal(p, q)
    other = build_model(hidden=8, seed=3)
    set_parameters(other, again)
    assert model_hash(get_parameters(other)) == model_hash(params)
    bumped = [p.copy() for p in params]
    bumped[3][0] = np.nextafter(bumped[3][0], np.float32(1))
    assert model_hash(bumped) != model_hash(params)
    # Same values, different shapes: different hash.
    reshaped = [params[0].reshape(6, 8), *params[1:]]
    assert model_hash(reshaped) != model_hash(params)
    assert re.fullmatch(r"[0-9a-f]{64}", model_hash(params))  # SHA-256 in hex


def test_hash_is_pinned_to_its_documented_layout():
    """Known answer for the zero logistic regression, rebuilt from the documented layout
    (tag, count, then per array: ndim, shape as u64, float32 LE bytes). A change here
    would break every hash already anchored on chain."""
    digest = hashlib.sha256(b"dalrn-fl-model-v1")
    digest.update(struct.pack("<I", 2))
    digest.update(struct.pack("<I", 2) + struct.pack("<2Q", 1, 6) + bytes(24))
    digest.update(struct.pack("<I", 1) + struct.pack("<1Q", 1) + bytes(4))
    assert model_hash(get_parameters(build_model())) == digest.hexdigest() == (
        "1e67318f5b68482985843adc92b9e09417e37dd99db6ba8f76cc0796deb91695")


def test_set_parameters_checks_shapes():
    model = build_model()
    with pytest.raises(InputError) as err:
        set_parameters(model, [np.zeros((1, 5)), np.zeros(1)])
    assert err.value.problems[0].field == "parameters[0]"
    x, y = to_arrays(make_silos(1, n_rows=5)[0])
    assert x.shape == (5, 6) and x.dtype == np.float32 and y.shape == (5,)
