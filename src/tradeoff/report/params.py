"""A chapter's parameter checks: one line that names the parameter, what it got, what it expects
and how to pass it with papermill, instead of a traceback from deep inside the package.

Papermill passes ``-p name value`` as text unless the value reads as a number, a boolean or
None: ``-p lengths '[1024, 2048]'`` gives the *string* ``"[1024, 2048]"``. Every chapter checks
its parameters with these functions before anything is drawn, so each rule is written once.
"""

from __future__ import annotations

import math

from ..errors import ParameterError


def _show(value) -> str:
    text = repr(value)
    kind = "text" if isinstance(value, str) else type(value).__name__
    return f"{text[:60]} ({kind})"


def fail(name: str, value, expects: str, how: str) -> ParameterError:
    """The one-line error of a parameter: what it got, what it expects, how to pass it."""
    return ParameterError(f"parameter `{name}` got {_show(value)}; expects {expects}. {how}")


def yaml_hint(name: str, example: str) -> str:
    """How to pass a list or mapping with papermill (``-p`` passes text)."""
    return (f"With papermill, pass it as YAML: -y '{name}: {example}' (or in a file given with "
            f"-f); -p passes text.")


def check_list(name: str, value, item_type: type, example: str, allowed=None) -> list:
    """A list parameter: a list of ``item_type``, each in ``allowed`` when given."""
    if not isinstance(value, list) or not all(
            isinstance(v, item_type) and not isinstance(v, bool) for v in value):
        raise fail(name, value, f"a list of {item_type.__name__}, e.g. {example}",
                    yaml_hint(name, example))
    if not value:
        raise fail(name, value, f"at least one entry, e.g. {example}", yaml_hint(name, example))
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise fail(name, value, f"entries from {', '.join(map(str, allowed))} "
                        f"(unknown: {', '.join(map(str, unknown))})", yaml_hint(name, example))
    return value


def check_choice(name: str, value, allowed) -> str:
    """A text parameter with a fixed set of values."""
    if value not in allowed:
        raise fail(name, value, f"one of {', '.join(allowed)}",
                    f"With papermill: -p {name} {allowed[0]}.")
    return value


def check_number(name: str, value, *, integer: bool = False, minimum: float = 0.0,
                 optional: bool = False) -> float | int | None:
    """A number parameter (``None`` allowed when ``optional``: no limit)."""
    if value is None and optional:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) \
            or value < minimum:
        kind = "an integer" if integer else "a number"
        expects = f"{kind} >= {minimum:g}" + (" or None (no limit)" if optional else "")
        raise fail(name, value, expects, f"With papermill: -p {name} {int(minimum) or 1}"
                    + (f" (or -y '{name}: null' for no limit)." if optional else "."))
    return value


def check_text(name: str, value) -> str:
    """A non-empty text parameter."""
    if not isinstance(value, str) or not value:
        raise fail(name, value, "a non-empty text", f"With papermill: -p {name} <text>.")
    return value
