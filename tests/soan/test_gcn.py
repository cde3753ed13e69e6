"""The GCN against a mean predictor and linear regression, on networks it never saw."""

import numpy as np
import pytest
import torch

from dalrn_core.errors import IntegrityError
from dalrn_core.soan.dataset import split_by_seed
from dalrn_core.soan.features import FEATURE_NAMES, edge_index, node_features
from dalrn_core.soan.gcn import GCNTrainConfig, evaluate, mape, train_gcn
from dalrn_core.soan.predict import predict_latency, predict_latency_many
from dalrn_core.soan.store import default_network, load_predictor, models_dir, save_predictor


def test_split_is_by_network_seed(tiny_data):
    train, test = tiny_data
    assert not {s.seed for s in train} & {s.seed for s in test}
    both = train + test
    tr, te = split_by_seed(both, [s.seed for s in test])
    assert [s.seed for s in te] == [s.seed for s in test] and len(tr) == len(train)


def test_simulated_targets_track_the_closed_form(tiny_data):
    # the training target is simulated; on held-out (longer) runs it sits near Jackson's value
    test = tiny_data[1]
    y = np.concatenate([s.y[s.mask] for s in test])
    exact = np.concatenate([s.analytic[s.mask] for s in test])
    assert mape(y, exact) < 10


def test_gcn_beats_mean_and_linear_on_held_out_networks(tiny_data, tiny_predictor):
    scores = evaluate(tiny_predictor, *tiny_data)
    assert scores["gcn"] < 0.5 * scores["mean"]
    assert scores["gcn"] < 0.85 * min(scores["linear"], scores["linear_log"])


def test_batched_inference_equals_one_by_one(tiny_predictor):
    g, s = default_network()
    one = predict_latency(g, s, tiny_predictor)
    assert one.shape == (100,) and (one > 0).all()
    many = predict_latency_many([(g, s), (g, s)], tiny_predictor)
    assert np.allclose(many[0], one, rtol=1e-5) and np.allclose(many[1], one, rtol=1e-5)
    # hot agents (the hotspot block 0..9) are predicted slower than the rest
    assert one[:10].mean() > 2 * one[10:].mean()


def test_features_are_local_and_named():
    g, s = default_network()
    x = node_features(g, s)
    assert x.shape == (100, len(FEATURE_NAMES))
    assert edge_index(g).shape == (2, 2 * g.number_of_edges())


def test_weights_round_trip_by_hash_and_tampering_is_caught(tiny_predictor):
    digest = save_predictor(tiny_predictor, {"note": "test"})
    assert (models_dir() / f"{digest}.pt").exists()
    loaded = load_predictor()
    g, s = default_network()
    assert np.allclose(predict_latency(g, s, loaded), predict_latency(g, s, tiny_predictor))
    path = models_dir() / f"{digest}.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_predictor(digest)


def test_no_stored_model_means_none():
    assert load_predictor() is None


def test_training_is_reproducible(tiny_data):
    torch.set_num_threads(1)
    train = tiny_data[0][:4]
    a = train_gcn(train, GCNTrainConfig(hidden=8, epochs=20))
    b = train_gcn(train, GCNTrainConfig(hidden=8, epochs=20))
    sample = tiny_data[1][0]
    assert np.allclose(
        a.predict(sample.x, sample.edge_index), b.predict(sample.x, sample.edge_index)
    )
