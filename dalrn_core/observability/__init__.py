"""What operators see of DALRN: Prometheus metrics (`metrics`), traces (`tracing`), breakers.

`metrics` is the one catalogue of exported metrics; `serve_metrics(port)` gives a process
without a web app (a dispute worker) its `/metrics`.
"""

from dalrn_core.observability.serve import MetricsServer, forget_process, serve_metrics

__all__ = ["MetricsServer", "forget_process", "serve_metrics"]
