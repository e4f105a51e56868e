"""A deadline for a whole response: one thread that cuts the socket of a late one."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx


class Watchdog:
    """Shuts the socket of a response whose deadline has passed, waking its blocked read.

    One thread for the client's life rather than a timer per request: starting
    a thread per page cost more than parsing the page.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._armed: dict[threading.Event, tuple[float, socket.socket | None]] = {}
        self._thread: threading.Thread | None = None
        self._sleeping_until = float("inf")
        self._closed = False

    def arm(self, deadline: float, sock: socket.socket | None) -> threading.Event:
        """Watch `sock` until `disarm`; the event is set if the deadline came first."""
        alarm = threading.Event()
        with self._wake:
            self._armed[alarm] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="usage-watchdog", daemon=True
                )
                self._thread.start()
            # Deadlines only grow (now + timeout): the thread, asleep until an
            # earlier one, finds this one when it wakes. Waking it per request
            # would cost a thread switch a page.
            if deadline < self._sleeping_until:
                self._wake.notify()
        return alarm

    def disarm(self, alarm: threading.Event) -> None:
        with self._wake:
            self._armed.pop(alarm, None)

    def close(self) -> None:
        """End the thread (with the client): nothing is watched after this."""
        with self._wake:
            self._closed = True
            self._armed.clear()
            self._wake.notify()

    def _watch(self) -> None:
        with self._wake:
            while not self._closed:
                if not self._armed:
                    self._sleeping_until = float("inf")
                    self._wake.wait()
                    continue
                alarm, (deadline, sock) = min(self._armed.items(), key=lambda item: item[1][0])
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    self._sleeping_until = deadline
                    self._wake.wait(remaining)
                    continue
                del self._armed[alarm]
                alarm.set()
                if sock is not None:
                    # A socket already closed needs no cutting.
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


def socket_of(response: httpx.Response) -> socket.socket | None:
    """The socket under a streamed response, where the transport has one."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None
