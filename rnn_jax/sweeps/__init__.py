"""Sweeps: grids of runs, their names, groups and tables."""
