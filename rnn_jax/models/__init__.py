"""Models built from layers and recurrences: the sequence model, the four I/O patterns, the
attention decoder, decoding and sampling."""
