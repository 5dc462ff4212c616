"""Evaluation beyond the loss: baselines, fault detection, text metrics."""
