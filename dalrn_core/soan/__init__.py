"""Self-organizing agent network: topology, M/M/1 queues, GCN latency predictor, rewiring."""
