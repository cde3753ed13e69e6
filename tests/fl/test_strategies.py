import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from dalrn_core.errors import InputError
from dalrn_core.fl import aggregation
from dalrn_core.fl.client import SiloClient
from dalrn_core.fl.data import make_silos
from dalrn_core.fl.model import flatten
from dalrn_core.fl.simulation import InProcessClientProxy
from dalrn_core.fl.strategies import STRATEGIES, make_strategy
from dalrn_core.fl.training import SiloTrainConfig

FRAME = make_silos(1, n_rows=5)[0]


def _results(vectors, sizes=None):
    sizes = sizes or [10] * len(vectors)
    out = []
    for i, (v, n) in enumerate(zip(vectors, sizes)):
        proxy = InProcessClientProxy(f"firm-{i}", SiloClient(f"firm-{i}", FRAME, SiloTrainConfig()))
        arrays = [v[:6].reshape(1, 6).astype(np.float32), v[6:].astype(np.float32)]
        out.append((proxy, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), n,
                                  {"loss": 0.5})))
    return out


def _vectors(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=7).astype(np.float32).astype(np.float64) for _ in range(n)]


REFERENCE = {
    "fedavg": lambda v, n: aggregation.fedavg(v, n),
    "median": lambda v, n: aggregation.median(v),
    "trimmed_mean": lambda v, n: aggregation.trimmed_mean(v, 0.2),
    "krum": lambda v, n: aggregation.krum(v, 1),
    "multi_krum": lambda v, n: aggregation.multi_krum(v, 1, 4),
}


@pytest.mark.parametrize("method", sorted(STRATEGIES))
def test_strategy_aggregates_with_its_function_in_any_order(method):
    vectors, sizes = _vectors(), [10, 20, 30, 40, 50]
    results = _results(vectors, sizes)
    strategy = make_strategy(method)
    params, metrics = strategy.aggregate_fit(1, results, [])
    got = flatten(parameters_to_ndarrays(params))
    np.testing.assert_allclose(got, REFERENCE[method](vectors, sizes), rtol=1e-6, atol=1e-6)
    shuffled, _ = strategy.aggregate_fit(1, results[::-1], [])
    np.testing.assert_array_equal(flatten(parameters_to_ndarrays(shuffled)), got)
    assert metrics["clients"] == 5 and metrics["rejected"] == 0


def test_non_finite_update_is_dropped_not_fatal():
    vectors = _vectors(6)
    vectors[2][3] = np.nan
    params, metrics = make_strategy("median").aggregate_fit(1, _results(vectors), [])
    kept = vectors[:2] + vectors[3:]
    np.testing.assert_allclose(flatten(parameters_to_ndarrays(params)),
                               aggregation.median(kept), rtol=1e-6)
    assert metrics["rejected"] == 1


def test_unknown_method_names_the_choices():
    with pytest.raises(InputError) as err:
        make_strategy("mean-ish")
    assert err.value.problems[0].field == "method"
    assert "krum" in err.value.problems[0].rule
