"""Improve the shared settlement-acceptance model across firms, privately, every night."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from dalrn_core.fl.federation import RoundConfig, check_rounds
from dalrn_core.fl.ledger import BudgetExceeded
from dalrn_core.fl.training import SiloTrainConfig
from dalrn_core.observability.federation import record_federation
from dalrn_core.podp.canonical import digest_of
from tasks.fl import (
    aggregate,
    charge_budget,
    current_model,
    evaluate,
    publish,
    silo_table,
    train_silo,
)
from tasks.model_anchor import anchor_model
from tasks.quality import check_table
from tasks.receipts import record_receipt


@flow(name="fl_nightly", log_prints=True)
def fl_nightly(rounds: int = 1, method: str = "trimmed_mean", n_silos: int = 5, seed: int = 0,
               n_rows: int = 2000, dp: bool = True, noise_multiplier: float = 1.1,
               max_grad_norm: float = 1.0, epsilon_budget: float = 4.0,
               delta: float = 1e-5) -> dict:
    """Run `rounds` federated rounds; returns the global model's hash and round number.

    Each round: charge every firm's privacy budget (refused rounds stop the night before
    any training), train one task per firm, aggregate robustly, evaluate. The returned
    `model_hash` and `round` identify the global model to anchor with the round's receipts.
    With `dp=False` each round is still recorded in the privacy ledger, as non-private
    (epsilon infinite), and the summary artifact says so.
    """
    check_rounds(rounds)
    config = RoundConfig(
        n_silos=n_silos, seed=seed, n_rows=n_rows, method=method,
        train=SiloTrainConfig(dp=dp, noise_multiplier=noise_multiplier, max_grad_norm=max_grad_norm),
        epsilon_budget=epsilon_budget, delta=delta).validate().as_dict()
    for silo in range(n_silos):  # each firm's table passes its suite before any training
        check_table(silo_table(config, silo), "fl_silo")
    model = current_model(config)
    history, refused, spent = [], None, {}
    run_id = str(flow_run.get_id() or "local")
    chain_id = f"fl-nightly-{run_id}"
    record_receipt(chain_id, "fl_start", params=config,
                   outputs={"model_hash": model["model_hash"], "round": model["round"]})
    for _ in range(rounds):
        round_number = model["round"] + 1
        try:
            spent = charge_budget(config, round_number, run_id)
        except BudgetExceeded as err:
            refused = str(err)
            print(f"round {round_number} refused: {refused}")
            break
        updates = [train_silo.submit(config, silo, model["model_hash"], round_number)
                   for silo in range(n_silos)]
        model = aggregate(config, [u.result() for u in updates], round_number)
        history.append({"round": round_number, **evaluate(config, model["model_hash"])})
        record_receipt(chain_id, "fl_round", inputs={"updates": digest_of([u.result() for u in updates])},
                       params={"round": round_number, "method": method, "private": dp},
                       outputs={"model_hash": model["model_hash"], **history[-1], "epsilon_spent": spent})
        print(f"round {round_number}: accuracy {history[-1]['accuracy']:.3f}, "
              f"loss {history[-1]['loss']:.3f}, model {model['model_hash'][:12]}")
    budgets = publish(config, history, model, refused)
    record_federation(model["round"], history[-1]["accuracy"] if history else None, len(history), budgets)
    anchor = anchor_model(chain_id, model["model_hash"], model["round"]) if history else None
    return {"model_hash": model["model_hash"], "round": model["round"],
            "receipts_chain": chain_id, "anchor": anchor,
            "rounds_run": len(history), "history": history, "refused": refused,
            "epsilon_spent": spent or {b["tenant"]: b["epsilon_spent"] for b in budgets}}


if __name__ == "__main__":
    print(fl_nightly())
