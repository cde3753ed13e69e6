"""Self-organizing agent network: topology, M/M/1 queues, GCN latency predictor, rewiring.

Modules, bottom up:

- `topology`   connected Watts-Strogatz small world and its clustering / path properties
- `queue`      M/M/1 closed forms (`mm1`)
- `network`    the agents as an open Jackson network: `NetworkState`, `solve`, `skewed_state`
- `simulation` discrete-event simulation of the network (training data, checks)
- `features`, `dataset`, `gcn`, `predict`   the GCN latency predictor and its baselines
- `rewire`     epsilon-greedy rewiring bandit
- `routing`    `route_dispute`: which agent handles a dispute
- `store`      network versions (`load_current_network`) and predictor weights by sha256
- `metrics`    Prometheus gauges in a private registry
- `plot`       PNG of the network (`render_network_png`, `plot_current`)
"""
