"""Did-you-mean for names a user types (spec keys, `--set` paths, plug-in params, plug-in names)."""

from __future__ import annotations

import difflib
from typing import Iterable


def did_you_mean(word: str, choices: Iterable[str], n: int = 3) -> str:
    """`` (did you mean 'seeds'?)`` for the closest choices (difflib's ratio ≥ 0.6), or ""."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
