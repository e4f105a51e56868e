"""When pages come slowly enough that a second thread, or a second chain, pays.

A thread that fetches ahead overlaps the network's wait with the caller's
work; a second chain from the list's far end halves the round trips. Both
cost hand-offs and a second connection, which a fast (local) server does not
repay. So each starts only after its threshold's pages came slowly, in a
row: `READ_AHEAD` and `FAR_END` are the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    """`pages` pages in a row, after the first (which also connects), over `seconds`."""

    seconds: float
    pages: int = 2


# Faster than this (a local server), the read-ahead thread's hand-offs and GIL
# switches cost more than they overlap: measured 0.8x the wall time without the
# thread at 50k records on loopback, and no worse at 20 ms or 50 ms a page.
READ_AHEAD = Threshold(0.005)
# Above READ_AHEAD: a local server's pages, fetched while the reader validates
# and writes on two busy cores, often take 5-10 ms, and a second connection
# there costs more than it saves; at 20 ms a page it halves the time.
FAR_END = Threshold(0.015)


class Pace:
    """How many of the last pages in a row came slower than a `Threshold`."""

    def __init__(self, threshold: Threshold) -> None:
        self.threshold = threshold
        self.pages = 0
        self.slow = 0

    def took(self, seconds: float) -> None:
        if self.pages:  # the first page is never counted: it also connects
            self.slow = self.slow + 1 if seconds > self.threshold.seconds else 0
        self.pages += 1

    @property
    def slowed(self) -> bool:
        return self.slow >= self.threshold.pages
