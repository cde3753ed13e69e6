"""Negotiate: equilibria of the dispute's game, a settlement by the chosen rule.

Cache: the key covers the task's inputs, its source and `NEGOTIATION_CODE`, a digest of the
negotiation package's source and of the solver libraries it calls, taken once at import, so
a changed solver never serves a result of the old one. A result whose equilibrium search was
cut short (`NegotiationResult.reproducible` is False: time limit, solver crash) depends on
how busy the machine was, not only on the inputs: it is returned but never written to the
cache, so the next run searches again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.context import TaskRunContext
from prefect.transactions import get_transaction

import dalrn_core.negotiation
from dalrn_core.dispute.stages import Intake, Negotiation
from dalrn_core.negotiation import settle

# Third-party code whose answers become part of a negotiation result (support enumeration,
# Qhull, HiGHS and SLSQP, the arrays underneath).
SOLVER_LIBRARIES = ("nashpy", "scipy", "numpy")


def source_digest(package_dir: Path, libraries: tuple[str, ...] = ()) -> str:
    """SHA-256 over every ``.py`` file under ``package_dir`` (relative path and content, in
    path order) and the installed versions of ``libraries``; independent of where it lies."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(package_dir).as_posix()}\0{content}\n".encode())
    for name in libraries:
        digest.update(f"{name}=={version(name)}\n".encode())
    return digest.hexdigest()


NEGOTIATION_CODE = source_digest(Path(dalrn_core.negotiation.__file__).parent, SOLVER_LIBRARIES)


@dataclass
class CodeVersion(CachePolicy):
    """Cache-key part that names the code computing the result (a digest fixed at import)."""

    # Keyword only: CachePolicy's own fields (key_storage first) come before it.
    digest: str = field(default="", kw_only=True)

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return self.digest


def negotiation_cache(code: str) -> CachePolicy:
    """The task's cache policy for negotiation code with digest ``code``."""
    return INPUTS + TASK_SOURCE + CodeVersion(digest=code)


NEGOTIATION_CACHE = negotiation_cache(NEGOTIATION_CODE)


def keep_out_of_cache() -> None:
    """Let the running task complete with its value but write nothing under its cache key.

    Prefect writes a task's result record only when the task's transaction commits, and
    only if the transaction's ``write_on_commit`` is set.
    """
    current = get_transaction()
    if current is not None:
        current.write_on_commit = False


@task(name="negotiate", cache_policy=NEGOTIATION_CACHE, cache_expiration=timedelta(days=30),
      timeout_seconds=120)
def negotiate_settlement(intake: Intake, rule: str = "nsw", time_limit_s: float = 5.0) -> Negotiation:
    """Every equilibrium, the selected one and the outcome, for the parsed dispute."""
    result = settle(intake.dispute, rule=rule, time_limit_s=time_limit_s)
    # A joint filing's result holds every party's private values: never written to storage.
    if not result.reproducible or intake.joint:
        keep_out_of_cache()
    return Negotiation(rule=rule, dispute_cid=intake.dispute_cid, result=result)
