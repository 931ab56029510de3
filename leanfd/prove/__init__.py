"""Batch proving and evaluation: pass@k over a benchmark, reports and plots."""
