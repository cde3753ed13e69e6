"""Federated learning tasks: budget check, one task per silo, aggregation, evaluation, artifacts."""

from __future__ import annotations

import base64
import math
from typing import Any

import pandas as pd
import torch
from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from dalrn_core.config import sub_dir
from dalrn_core.fl import federation
from dalrn_core.fl.federation import (
    AggregatedRound,
    ModelRef,
    ModelScore,
    RoundConfig,
    SiloBudget,
    SiloUpdate,
)
from dalrn_core.fl.model import RoundMetrics
from dalrn_core.fl.plot import render_history_png


@task(name="fl-current-model", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def current_model(config: dict[str, Any]) -> ModelRef:
    """Hash and round number of the current global model."""
    return federation.start(RoundConfig.from_dict(config).validate())


@task(name="fl-charge-budget", cache_policy=NO_CACHE)
def charge_budget(config: dict[str, Any], round_number: int, run_id: str) -> dict[str, float]:
    """Atomically charge every silo's privacy budget for one round, before any training.

    No retries: a refusal (BudgetExceeded) is final for tonight.
    """
    return federation.charge_round(RoundConfig.from_dict(config), round_number, run_id)


@task(name="fl-silo-table", cache_policy=NO_CACHE)
def silo_table(config: dict[str, Any], silo: int) -> pd.DataFrame:
    """One firm's private table, for its data quality suite (checked at the silo)."""
    return federation.silo_table(RoundConfig.from_dict(config), silo)


@task(name="fl-train-silo", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=[5],
      task_run_name="fl-train-silo-{silo}-round-{round_number}")
def train_silo(config: dict[str, Any], silo: int, model_hash: str,
               round_number: int) -> SiloUpdate:
    """One firm's local (DP-SGD) training on the global model; returns its update."""
    torch.set_num_threads(1)  # silos train side by side in the task runner's threads
    return federation.train_silo(RoundConfig.from_dict(config), silo, model_hash, round_number)


@task(name="fl-aggregate", cache_policy=NO_CACHE)
def aggregate(config: dict[str, Any], results: list[SiloUpdate],
              round_number: int) -> AggregatedRound:
    """Robust aggregation of the silos' updates; stores the new global model by hash."""
    return federation.aggregate_round(RoundConfig.from_dict(config), results, round_number)


@task(name="fl-evaluate", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def evaluate(config: dict[str, Any], model_hash: str) -> ModelScore:
    """Accuracy and loss of a global model on held-out rows."""
    return federation.evaluate_model(RoundConfig.from_dict(config), model_hash)


@task(name="fl-publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def publish(config: dict[str, Any], history: list[RoundMetrics], final: ModelRef,
            refused: str | None) -> list[SiloBudget]:
    """Per-round table, accuracy/loss plot, and the silos' privacy budgets as artifacts."""
    round_config = RoundConfig.from_dict(config)
    budgets = federation.budgets(round_config)
    if history:
        # Prefect types table rows as plain dicts; a TypedDict row is copied into one.
        create_table_artifact(table=[dict(row) for row in history], key="fl-rounds",
                              description="Global model per round: accuracy and loss")
        png = render_history_png(history, sub_dir("fl", "plots") / f"{final['model_hash']}.png",
                                 title=f"global model {final['model_hash'][:12]}")
        create_image_artifact(
            image_url="data:image/png;base64," + base64.b64encode(png.read_bytes()).decode(),
            key="fl-accuracy-loss", description="Accuracy and loss of the global model per round")
    # JSON has no infinity: a budget spent by a non-private round is shown as "inf".
    table = [{**b, "epsilon_spent": b["epsilon_spent"] if math.isfinite(b["epsilon_spent"])
              else "inf"} for b in budgets]
    create_table_artifact(table=table, key="fl-privacy-budgets",
                          description="Epsilon spent per firm (RDP accountant; inf after a "
                          "round without differential privacy)")
    privacy = ("Differential privacy: on (DP-SGD, RDP accountant).\n" if round_config.train.dp
               else "Differential privacy: OFF. Tonight's rounds trained on the firms' rows "
               "without DP and are recorded in the privacy ledger as non-private: no finite "
               "epsilon bounds what the model reveals about those rows.\n")
    create_markdown_artifact(
        key="fl-nightly-summary",
        markdown=(f"Global model `{final['model_hash']}` at round {final['round']}.\n\n"
                  + privacy + "\n"
                  + (f"Refused: {refused}\n" if refused else "All planned rounds ran.\n")))
    return budgets
