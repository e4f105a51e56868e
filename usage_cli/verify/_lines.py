"""How a verifier names many findings in one line: the first few, and how many more."""

from __future__ import annotations

from collections.abc import Sequence


def first_of(items: Sequence[str], most: int, *, sep: str = ", ") -> str:
    """The first `most` of `items` joined by `sep`, then `and N more` for the rest.

    Joined by commas the line ends `x and 3 more`; by semicolons, `x; and 3 more`.
    """
    shown = sep.join(items[:most])
    more = len(items) - most
    if more <= 0:
        return shown
    return f"{shown}{sep.strip().strip(',')} and {more} more"
