"""When a stream may carry colour, and the dim style notes take: one rule for the
runtime and for `usage --help` drawn before any runtime exists."""

from __future__ import annotations

from collections.abc import Mapping

# gh's colours: errors red, warnings yellow; the rest of what is said to a person
# (notes, progress lines) dimmed, so the data on stdout stands out.
RED, YELLOW, DIM, RESET = "\x1b[31m", "\x1b[33m", "\x1b[2m", "\x1b[0m"


def colour_allowed(env: Mapping[str, str], tty: bool, *, allowed: bool = True) -> bool:
    """Whether a stream may carry colour: a terminal (`tty`), or any stream under
    `CLICOLOR_FORCE` (bixense.com/clicolors); never with `--no-color` (`allowed`
    False), `NO_COLOR` set to anything (no-color.org) or `TERM=dumb`."""
    if not allowed or env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return tty or env.get("CLICOLOR_FORCE", "0") not in ("", "0")
