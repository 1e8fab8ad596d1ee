"""Metrics, reports (Markdown + JSON + plots) and model cards."""
