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


def listed(problems: Sequence[str]) -> list[str]:
    """Several problems, one a line where a person can read them (said before the
    verdict); one problem stays in the verdict itself."""
    return [f"  - {problem}" for problem in problems] if len(problems) > 1 else []


def summed(problems: Sequence[str]) -> str:
    """What a verdict says of its problems, beside `listed`."""
    return problems[0] if len(problems) == 1 else f"{len(problems)} problems (listed above)"
