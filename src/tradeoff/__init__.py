"""Accuracy vs energy and speed of long-context encoder-decoders as the input grows.

Kept light on purpose: notebooks import ``tradeoff`` to read records and draw figures, so the
heavy libraries (torch, transformers) are imported only by the modules that train or infer.
"""

__version__ = "0.1.0"
