"""Evaluation: metrics, comparison statistics, robustness, activation maps and their plots."""
