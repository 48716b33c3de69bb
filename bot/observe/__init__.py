"""Observability: Prometheus metrics (``metrics``), health rules (``health``) and the HTTP
server that exposes both (``server``). See docs/operations.md, "Metrics and health"."""
