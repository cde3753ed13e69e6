"""Byzantine behaviours of a malicious firm, used to test the robust aggregators.

Model poisoning rewrites the update a firm sends (its parameters minus the global model's);
data poisoning trains honestly on corrupted labels. The forms follow the attack sections
of Fang et al. 2020 ("Local Model Poisoning Attacks to Byzantine-Robust Federated
Learning", USENIX Security) and Baruch et al. 2019 ("A Little Is Enough").

- sign_flip: send -factor * update, factor 4 by default (reversed and amplified, so a
  plain average of five cancels the honest progress).
- scaling: send factor * update, factor 10 by default (the attacker's own local optimum,
  overshot, dominates a plain average).
- gaussian_noise: send an update drawn from N(0, sigma^2 I), unrelated to the data.
- label_flip: train on 1 - y (a data-poisoning attack; the update itself looks normal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dalrn_core.errors import InputError

MODEL_ATTACKS = ("sign_flip", "scaling", "gaussian_noise")
DATA_ATTACKS = ("label_flip",)
ATTACKS = MODEL_ATTACKS + DATA_ATTACKS
_DEFAULT_FACTOR = {"sign_flip": 4.0, "scaling": 10.0}


@dataclass(frozen=True)
class Attack:
    """One attack and its strength (`factor` for sign_flip / scaling, `sigma` for noise).

    `factor` None takes the kind's default (sign_flip 4, scaling 10).
    """

    kind: str
    factor: float | None = None
    sigma: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in ATTACKS:
            raise InputError.one("attack.kind", f"must be one of {', '.join(ATTACKS)}")
        factor = _DEFAULT_FACTOR.get(self.kind, 1.0) if self.factor is None else self.factor
        object.__setattr__(self, "factor", factor)
        if not factor > 0:
            raise InputError.one("attack.factor", "must be > 0")
        if not self.sigma > 0:
            raise InputError.one("attack.sigma", "must be > 0")

    def poison_update(self, update: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The update the attacker sends instead of its honest `update` (a flat vector)."""
        factor = self.factor
        assert factor is not None  # __post_init__ replaced None with the kind's default
        if self.kind == "sign_flip":
            return -factor * update
        if self.kind == "scaling":
            return factor * update
        if self.kind == "gaussian_noise":
            return rng.normal(0.0, self.sigma, size=update.shape)
        return update

    def poison_labels(self, y: np.ndarray) -> np.ndarray:
        """The labels the attacker trains on (flipped for label_flip, else unchanged)."""
        return 1.0 - y if self.kind == "label_flip" else y
