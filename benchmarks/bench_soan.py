"""Mediator network: small-world properties, simulation vs closed forms, GCN vs baselines,
latency drop from rewiring under a skewed load.

`python -m benchmarks.run soan [--quick]`. Every row: section, metric, value, note.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from dalrn_core.soan.dataset import build_dataset
from dalrn_core.soan.gcn import GCNTrainConfig, evaluate, train_gcn
from dalrn_core.soan.network import NetworkState, scale_to_utilisation, skewed_state, solve
from dalrn_core.soan.predict import predict_latency_many
from dalrn_core.soan.queue import mm1
from dalrn_core.soan.rewire import RewireConfig, bounds_hold, rewire
from dalrn_core.soan.simulation import simulate
from dalrn_core.soan.topology import small_world, small_world_properties

PARAMETERS = {
    "topology": {"n": 100, "k": 6, "p": 0.1, "seed": 0},
    "simulation_jobs": {"full": 400_000, "quick": 100_000},
    "predictor": {
        "full": {"train_networks": 60, "test_networks": 15, "hidden": 32, "epochs": 300},
        "quick": {"train_networks": 24, "test_networks": 6, "hidden": 16, "epochs": 250},
    },
    "rewiring": {
        "hotspot_starts": {"full": [0, 37, 71], "quick": [0]},
        "iterations": {"full": 30, "quick": 15},
    },
}


def _row(section: str, metric: str, value: float, note: str = "") -> dict:
    return {"section": section, "metric": metric, "value": float(value), "note": note}


def _topology() -> list[dict]:
    p = small_world_properties(small_world(), seed=0)
    note = "N=100 k=6 p=0.1 seed 0"
    return [
        _row(
            "topology",
            "clustering (small world / lattice / random)",
            p.clustering,
            f"{p.lattice_clustering:.3f} / {p.random_clustering:.3f}; {note}",
        ),
        _row(
            "topology",
            "avg shortest path (small world / lattice / random)",
            p.path_length,
            f"{p.lattice_path_length:.3f} / {p.random_path_length:.3f}",
        ),
        _row("topology", "small-world sigma", p.sigma, "(C/C_rand)/(L/L_rand) > 1"),
    ]


def _simulation(quick: bool) -> list[dict]:
    import networkx as nx

    rows, jobs = [], 100_000 if quick else 400_000
    for rho in (0.5, 0.8):
        started = time.perf_counter()
        r = simulate(
            nx.empty_graph(1), NetworkState(np.array([rho]), np.ones(1), 0.0), jobs=jobs, seed=0
        )
        rate = r.events / (time.perf_counter() - started)
        err = abs(r.time_in_system[0] / mm1(rho, 1.0).mean_time_in_system - 1) * 100
        rows.append(
            _row(
                "simulation",
                f"single M/M/1 rho={rho}: |W error| %",
                err,
                f"{jobs} jobs, {rate:,.0f} events/s",
            )
        )
    g = nx.cycle_graph(6)
    g.add_edge(0, 3)
    state = scale_to_utilisation(
        g, NetworkState(np.array([3, 1, 1, 2, 1, 1.0]), np.array([1, 1, 1.5, 1, 1, 1.0]), 0.4), 0.8
    )
    r, closed = simulate(g, state, jobs=jobs, seed=0), solve(g, state)
    rows.append(
        _row(
            "simulation",
            "6-agent Jackson network, max rho 0.8: max |W error| %",
            np.max(np.abs(r.time_in_system / closed.time_in_system - 1)) * 100,
            f"{jobs} jobs",
        )
    )
    rows.append(
        _row(
            "simulation",
            "6-agent Jackson network: |mean latency error| %",
            abs(r.mean_latency / closed.mean_latency - 1) * 100,
            f"{jobs} jobs",
        )
    )
    return rows


def _predictor(quick: bool):
    n_train, n_test = (24, 6) if quick else (60, 15)
    n_range = (20, 40) if quick else (40, 100)
    config = (GCNTrainConfig(hidden=16, epochs=250) if quick
              else GCNTrainConfig(hidden=32, epochs=300))
    train = build_dataset(range(n_train), n_range=n_range, jobs_per_node=200 if quick else 300)
    test = build_dataset(
        range(10_000, 10_000 + n_test), n_range=n_range, jobs_per_node=800 if quick else 1500
    )
    started = time.perf_counter()
    predictor = train_gcn(train, config)
    train_s = time.perf_counter() - started
    plain = train_gcn(train, GCNTrainConfig(**{**config.__dict__, "plain": True}))
    note = (
        f"{n_train} train / {n_test} held-out networks (split by seed), n in {n_range}, "
        f"hidden {config.hidden}, {config.epochs} epochs, trained in {train_s:.1f} s"
    )
    rows = []
    for target in ("y", "analytic"):
        scores = evaluate(predictor, train, test, target)
        scores["gcn_plain"] = evaluate(plain, train, test, target)["gcn"]
        label = "simulated" if target == "y" else "closed-form"
        for name in ("gcn", "gcn_plain", "linear", "linear_log", "mean"):
            rows.append(
                _row(
                    "predictor",
                    f"held-out MAPE % vs {label} latency: {name}",
                    scores[name],
                    note if name == "gcn" and target == "y" else "",
                )
            )
    return rows, predictor


def _rewiring(quick: bool, predictor) -> list[dict]:
    rows, starts = [], [0] if quick else [0, 37, 71]
    iterations = 15 if quick else 30
    for start in starts:
        g = small_world()
        state = skewed_state(g, start=start)
        started = time.perf_counter()
        out, history = rewire(g, state, predictor, RewireConfig(iterations=iterations, seed=start))
        elapsed = time.perf_counter() - started
        assert bounds_hold(out, 2, 12)
        before, after = solve(g, state).mean_latency, solve(out, state).mean_latency
        sim_b = simulate(g, state, jobs=200_000, seed=12345).mean_latency
        sim_a = simulate(out, state, jobs=200_000, seed=12345).mean_latency
        kept = sum(h.accepted for h in history)
        rows.append(
            _row(
                "rewiring",
                f"hotspot at agents {start}..{start + 9}: closed-form latency drop %",
                (1 - after / before) * 100,
                f"{before:.3f} -> {after:.3f}",
            )
        )
        rows.append(
            _row(
                "rewiring",
                f"hotspot at agents {start}..{start + 9}: simulated latency drop %",
                (1 - sim_a / sim_b) * 100,
                f"{sim_b:.3f} -> {sim_a:.3f}; 200k jobs; {kept}/{iterations} moves kept, "
                f"{elapsed:.1f} s",
            )
        )
    g = small_world()
    states = [skewed_state(g, start=s) for s in range(0, 100, 10)]
    started = time.perf_counter()
    predict_latency_many([(g, s) for s in states], predictor)
    rows.append(
        _row(
            "inference",
            "batched predict_latency, ms per 100-agent network",
            (time.perf_counter() - started) * 1000 / len(states),
            f"batch of {len(states)}",
        )
    )
    return rows


def run(quick: bool) -> list[dict]:
    torch.set_num_threads(1)
    predictor_rows, predictor = _predictor(quick)
    return [*_topology(), *_simulation(quick), *predictor_rows, *_rewiring(quick, predictor)]
