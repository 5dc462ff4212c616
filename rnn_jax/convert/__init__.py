"""Weights from and to other libraries' recurrent layers (:mod:`.pytorch`)."""
