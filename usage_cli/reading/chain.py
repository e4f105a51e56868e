"""A cursor chain fetched by a thread of its own, a bounded number of pages ahead.

Cursor pages form a strict chain: page n+1 can only be asked for once page n
has come. What a thread can overlap is the network's wait for the next page
with the reader's work on this one. `Chain` is that thread; `read_ahead`
reads one chain through it, and `reading.two_ends` reads two into one outbox.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeAlias

from usage_cli.records import Page

AHEAD = 2  # pages a chain may fetch before they are used: enough to hide a hand-off
POLL = 0.1  # seconds: how soon a stop is noticed (and Ctrl-C, on the main thread)
JOIN = 0.25  # seconds a stopping reader waits for a chain's request in flight


class Failed:
    """What a chain posts when fetching raised: the reader raises it, or drops the chain."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


END = object()  # what a chain posts after its last page

# A chain's page, END, or Failed, with the chain that posted it.
Posted: TypeAlias = "tuple[Chain, object]"
# SimpleQueue, not Queue: the reader waits on it in the main thread, where
# Ctrl-C lands, and Queue's Condition can be left unlocked by a signal in its
# wait ("RuntimeError: release unlocked lock" in place of the interrupt).
# SimpleQueue waits on one C lock, which a signal interrupts cleanly.
Outbox: TypeAlias = "queue.SimpleQueue[Posted]"


class Chain:
    """`pages` (a cursor chain's iterator) fetched on a thread, at most AHEAD ahead.

    Each page is posted to `outbox` (END after the last, `Failed` if fetching
    raised); the reader calls `used` once it has taken one, which lets the
    chain fetch one more. Memory holds at most AHEAD pages the reader has not
    taken, plus the one it holds. Order is kept: one producer, a FIFO outbox.
    """

    def __init__(self, name: str, pages: Iterator[Page], outbox: Outbox | None = None) -> None:
        self.name = name
        self.outbox: Outbox = queue.SimpleQueue() if outbox is None else outbox
        self._pages = pages
        self._credit = threading.Semaphore(AHEAD)
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"usage-{name}", daemon=True)

    @property
    def begun(self) -> bool:
        return self._thread.ident is not None

    def begin(self) -> None:
        self._thread.start()

    def used(self) -> None:
        """The reader took one of this chain's pages: it may fetch one more."""
        self._credit.release()

    def stop(self) -> None:
        self.stopped.set()
        # Wakes a chain waiting for credit now, not at its next poll.
        self._credit.release()

    def join(self) -> None:
        if self.begun:
            # Let a request in flight end before the caller closes the client;
            # bounded, so that Ctrl-C stays prompt.
            self._thread.join(JOIN)

    def _run(self) -> None:
        try:
            while self._may_fetch():
                page = next(self._pages, None)
                if self.stopped.is_set():
                    return
                self.outbox.put((self, END if page is None else page))
                if page is None:
                    return
        except BaseException as error:
            self.outbox.put((self, Failed(error)))
        finally:
            # Once handed to the chain, its pages are this thread's alone to iterate,
            # so this thread closes them (a source may hold something to let go of).
            close = getattr(self._pages, "close", None)
            if close is not None:
                close()

    def _may_fetch(self) -> bool:
        while not self.stopped.is_set():
            if self._credit.acquire(timeout=POLL):
                return not self.stopped.is_set()
        return False


def next_posted(outbox: Outbox, ready: Callable[[], None] | None = None) -> Posted:
    """The next page posted to `outbox`, waking every POLL to call `ready` (if given).

    The poll keeps Ctrl-C prompt on the main thread, and lets a reader of two
    chains start the second one while it waits (see `reading.two_ends`).
    """
    while True:
        if ready is not None:
            ready()
        try:
            return outbox.get(timeout=POLL)
        except queue.Empty:
            continue


def read_ahead(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """`pages`, each fetched by a thread while the caller uses the one before.

    Stopping early costs at most AHEAD extra requests. A failure in the chain
    is raised here right after the pages before it; when the caller stops (an
    error, Ctrl-C, a closed pipe), the chain stops too.
    """
    chain = Chain("prefetch", pages)
    chain.begin()
    try:
        while True:
            _, item = next_posted(chain.outbox)
            chain.used()
            if item is END:
                return
            if isinstance(item, Failed):
                raise item.error
            assert isinstance(item, Page)
            yield item
    finally:
        chain.stop()
        chain.join()
