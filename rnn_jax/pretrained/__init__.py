"""The trained models shipped with the package: ``NAME.safetensors`` and ``NAME.json`` per
model, written and read by :mod:`rnn_jax.training.shipped` (data only, no code)."""
