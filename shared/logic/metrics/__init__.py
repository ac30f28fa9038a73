"""Metrics of tickets: each ticket's ledger of the figures it contributes to reports (docs/metrics.md)."""
