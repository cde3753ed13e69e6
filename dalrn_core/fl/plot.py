"""Accuracy and loss of the global model per round, as a PNG (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers
import matplotlib.pyplot as plt

from dalrn_core.fl.model import RoundMetrics


def render_history_png(history: Sequence[RoundMetrics], path: Path,
                       title: str = "global model") -> Path:
    """Plot rows {"round", "accuracy", "loss"} (two panels) into `path`; returns it."""
    rounds = [row["round"] for row in history]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    ax_acc.plot(rounds, [row["accuracy"] for row in history], marker="o")
    ax_acc.set_xlabel("round")
    ax_acc.set_ylabel("accuracy")
    ax_loss.plot(rounds, [row["loss"] for row in history], marker="o", color="tab:red")
    ax_loss.set_xlabel("round")
    ax_loss.set_ylabel("loss (BCE)")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
