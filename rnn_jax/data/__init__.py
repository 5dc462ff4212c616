"""Datasets as numpy arrays of fixed shapes."""
