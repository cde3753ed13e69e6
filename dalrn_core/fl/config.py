"""What every federated run shares: the silos, the aggregation rule, the model, local training.

`FederationConfig` holds those fields and their validation once; the nightly round
(`federation.RoundConfig`, adding the privacy budget) and the in-process simulation
(`simulation.SimulationConfig`, adding rounds and an attacker) extend it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dalrn_core.errors import InputError
from dalrn_core.fl.data import silo_names
from dalrn_core.fl.strategies import STRATEGIES
from dalrn_core.fl.training import SiloTrainConfig


@dataclass(frozen=True)
class FederationConfig:
    """Silos, aggregation rule and model shared by every party; plain values so Prefect
    can pass it.

    `beta` is the trimmed mean's trimmed share per side, `f` the number of Byzantine
    silos Krum tolerates, `m` how many updates Multi-Krum averages (None: n - f), and
    `hidden` the model's hidden width (0: logistic regression).
    """

    n_silos: int = 5
    seed: int = 0
    n_rows: int = 2000
    method: str = "trimmed_mean"
    beta: float = 0.2
    f: int = 1
    m: int | None = None
    hidden: int = 0
    train: SiloTrainConfig = field(default_factory=SiloTrainConfig)

    def validate(self) -> FederationConfig:
        if self.method not in STRATEGIES:
            raise InputError.one("method", f"must be one of {', '.join(STRATEGIES)}")
        if isinstance(self.n_silos, bool) or not isinstance(self.n_silos, int) \
                or not 3 <= self.n_silos <= 64:
            raise InputError.one("n_silos", "must be an integer between 3 and 64")
        if self.method in ("krum", "multi_krum") and self.n_silos <= 2 * self.f + 2:
            raise InputError.one("n_silos", f"{self.method} with f={self.f} needs more than "
                                 f"{2 * self.f + 2} silos")
        self.train.validate()
        return self

    @property
    def silos(self) -> list[str]:
        """Each silo's privacy-ledger tenant, in silo order."""
        return silo_names(self.n_silos)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
