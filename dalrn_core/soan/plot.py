"""Picture of the mediator network: colour by utilisation, size by queue length.

Drawn with matplotlib's non-interactive Agg backend so it works on servers and in tests.
Agents sit on a circle in id order, the ring the small world was built from, so the
long-range shortcuts (and the ones rewiring adds) stand out as chords.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from dalrn_core.soan.network import NetworkState, solve


def render_network_png(
    graph: nx.Graph, state: NetworkState, path: str | Path, *, title: str | None = None, dpi: int = 80
) -> Path:
    """Draw the network with closed-form utilisation (colour) and queue length (size)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    solution = solve(graph, state)
    rho = np.clip(solution.utilisation, 0.0, 1.0)
    queue = np.minimum(solution.mean_in_system, 50.0)  # unstable agents: drawn at the cap
    nodes = list(range(state.n))
    pos = nx.circular_layout(nodes)
    fig, ax = plt.subplots(figsize=(7, 7))
    try:
        nx.draw_networkx_edges(graph, pos, ax=ax, alpha=0.3, width=0.6)
        drawn = nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=nodes,
            ax=ax,
            node_color=rho[nodes],
            cmap="viridis",
            vmin=0.0,
            vmax=1.0,
            node_size=20 + 40 * queue[nodes],
        )
        fig.colorbar(drawn, ax=ax, shrink=0.7, label="utilisation")
        latency = solution.mean_latency
        ax.set_title(
            title
            or f"{state.n} agents, {graph.number_of_edges()} links, "
            f"mean latency {latency:.2f} (size: queue length)"
        )
        ax.set_axis_off()
        fig.savefig(path, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def plot_current(path: str | Path) -> Path:
    """Render the live network (stored `current` version) to `path`; for `dalrn soan plot`."""
    from dalrn_core.soan.store import load_current_network

    version = load_current_network()
    return render_network_png(
        version.graph,
        version.state,
        path,
        title=f"network {version.hash[:12]} (size: queue length)",
    )
