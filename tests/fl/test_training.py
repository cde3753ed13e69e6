import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.fl.data import make_silos, make_test_set, to_arrays
from dalrn_core.fl.model import build_model, evaluate, flatten, get_parameters, set_parameters
from dalrn_core.fl.training import SiloTrainConfig, local_train


@pytest.fixture(scope="module")
def silo():
    return to_arrays(make_silos(1, seed=0, n_rows=200)[0])


def test_dp_cost_is_what_opacus_counted(silo):
    x, y = silo
    config = SiloTrainConfig(batch_size=25, local_epochs=2)
    result = local_train(build_model(), x, y, config, seed=1)
    cost = config.cost(len(x))
    assert result.steps == cost.steps == 16
    assert result.opacus_history == ((1.1, cost.sample_rate, cost.steps),)
    assert cost.sample_rate == pytest.approx(25 / 200)


def test_dp_training_is_seeded_and_noisy(silo):
    x, y = silo
    config = SiloTrainConfig()
    runs = []
    for seed in (7, 7, 8):
        model = build_model()
        local_train(model, x, y, config, seed=seed)
        runs.append(flatten(get_parameters(model)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])
    plain = build_model()
    local_train(plain, x, y, SiloTrainConfig(dp=False), seed=7)
    assert not np.allclose(flatten(get_parameters(plain)), runs[0])


def test_dp_training_still_learns(silo):
    x, y = silo
    xt, yt = to_arrays(make_test_set(1, seed=0))
    before = evaluate(build_model(), xt, yt)
    params = get_parameters(build_model())
    for r in range(3):
        model = build_model()
        set_parameters(model, params)
        evaluate(model, xt, yt)  # leaves eval mode; training must still work
        local_train(model, x, y, SiloTrainConfig(), seed=r)
        params = get_parameters(model)
    loss, accuracy = evaluate(model, xt, yt)
    assert loss < before[0] and accuracy > 0.7


def test_clipping_bounds_each_step(silo):
    """With clip C, no noise to speak of and one step, the update is at most lr * C."""
    x, y = silo
    config = SiloTrainConfig(lr=0.1, batch_size=200, max_grad_norm=0.05, noise_multiplier=1e-6)
    model = build_model()
    start = flatten(get_parameters(model))
    result = local_train(model, x, y, config, seed=0)
    assert result.steps == 1
    # The sum of clipped per-example gradients over the expected batch size is <= C
    # when the Poisson batch is not larger than expected; allow the batch-size slack.
    step = np.linalg.norm(flatten(get_parameters(model)) - start)
    assert step <= 0.1 * 0.05 * 1.5


def test_bad_config_names_fields():
    with pytest.raises(InputError) as err:
        SiloTrainConfig(lr=-1, batch_size=0).validate()
    assert {p.field for p in err.value.problems} == {"lr", "batch_size"}
