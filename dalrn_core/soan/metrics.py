"""Live Prometheus metrics of the mediator network, per agent and per rewiring iteration.

Each `SoanMetrics` owns its own `CollectorRegistry` (never the process-global one), so two
networks, or two tests, can export side by side; `exposition()` is the text a Prometheus
server scrapes.
"""

from __future__ import annotations

import math

import networkx as nx
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from dalrn_core.soan.network import NetworkState, solve
from dalrn_core.soan.rewire import IterationMetrics
from dalrn_core.soan.simulation import SimulationResult


class SoanMetrics:
    """Gauges per agent (queue length, utilisation, instability) and rewiring progress."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.queue_length = Gauge(
            "soan_agent_queue_length", "Mean number of disputes at the agent", ["agent"], registry=r
        )
        self.utilisation = Gauge(
            "soan_agent_utilisation", "Arrival rate over service rate", ["agent"], registry=r
        )
        self.unstable = Gauge(
            "soan_agent_unstable",
            "1 when the agent's arrival rate reaches its "
            "service rate (its queue grows without bound)",
            ["agent"],
            registry=r,
        )
        self.mean_latency = Gauge(
            "soan_mean_latency", "Job-weighted mean end-to-end latency", ["source"], registry=r
        )
        self.iterations = Counter("soan_rewire_iterations", "Rewiring iterations run", registry=r)
        self.accepted = Counter("soan_rewire_accepted", "Rewiring moves kept", registry=r)
        self.epsilon = Gauge(
            "soan_rewire_epsilon", "Exploration rate of the last iteration", registry=r
        )
        self.reward = Gauge(
            "soan_rewire_simulated_reward", "Simulated latency drop of the last move", registry=r
        )

    def observe_network(
        self, graph: nx.Graph, state: NetworkState, simulation: SimulationResult | None = None
    ) -> None:
        """Set per-agent gauges: closed forms, or the simulation's measurements when given."""
        solution = solve(graph, state)
        for i in range(state.n):
            agent = str(i)
            rho = float(solution.utilisation[i])
            if simulation is not None:
                length, busy = float(simulation.mean_in_system[i]), float(simulation.utilisation[i])
            else:
                length, busy = float(solution.mean_in_system[i]), rho
            self.queue_length.labels(agent).set(length)
            self.utilisation.labels(agent).set(busy)
            self.unstable.labels(agent).set(1.0 if rho >= 1.0 else 0.0)
        self.mean_latency.labels("closed_form").set(solution.mean_latency)
        if simulation is not None and not math.isnan(simulation.mean_latency):
            self.mean_latency.labels("simulation").set(simulation.mean_latency)

    def observe_iteration(self, it: IterationMetrics) -> None:
        self.iterations.inc()
        if it.accepted:
            self.accepted.inc()
        self.epsilon.set(it.epsilon)
        self.reward.set(it.simulated_reward)
        self.mean_latency.labels("rewire_simulation").set(it.simulated_mean_latency)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.registry.get_sample_value(name, labels or {})

    def exposition(self) -> bytes:
        """Prometheus text format of every metric in this registry."""
        return generate_latest(self.registry)
