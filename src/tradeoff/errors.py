"""The study's exceptions: each bad input raises one of these before any compute.

This module imports nothing from the package, so every layer can raise and catch them.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A profile or command-line value that cannot run; raised before any compute."""


class RecordError(ValueError):
    """A record file that cannot be read as a :class:`~tradeoff.records.RunRecord`."""


class DataUnavailableError(RuntimeError):
    """The requested data could not be found locally or downloaded."""


class ParameterError(ValueError):
    """A notebook parameter of the wrong type or value; shown as one line, no traceback."""

    def _render_traceback_(self) -> list[str]:
        # IPython prints this instead of a traceback (papermill reports it the same way).
        return [f"ParameterError: {self}"]


class ReferenceFileError(ValueError):
    """A committed reference file (counted cost rows, knob memory or speed rows, published
    scores) that is missing, unreadable or breaks its schema; one line, with the fix."""


class BookError(RuntimeError):
    """The book cannot be built (missing sources, failed notebooks in strict mode, Sphinx)."""
