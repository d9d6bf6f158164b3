"""Stage 5, experiments: synthetic data, learning curves, sweeps, the notebook runner.
Imports any earlier stage."""
