"""Layers without recurrence: dense, convolution, attention, CTC."""
