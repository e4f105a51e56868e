"""The floors of reading from both ends: one bare httpx chain, and two at once.

`benchmarks/sync_streams.py` holds a first sync from both ends against these
(export reads one chain: a full history fast is `usage sync`, then
`usage export --db`). Each sandbox runs in its own process, `--latency` ms late.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import dataclass

from export_memory import TOKEN, usage_command


def start_sandbox(records: int, latency_ms: int) -> tuple[subprocess.Popen[str], str]:
    command = [*usage_command(), "sandbox", "--port", "0", "--records", str(records), "-q"]
    process = subprocess.Popen(
        [*command, "--latency", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, CHATBOTKIT_API_TOKEN=TOKEN),
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export CHATBOTKIT_API_URL="):
            return process, line.split("=", 1)[1].strip()
    raise RuntimeError("the sandbox did not start")


def bare_chain(url: str) -> float:
    """Seconds of one bare httpx cursor chain over the whole list: this sandbox's real
    pages x RTT (no validation, no writing, no start-up)."""
    import httpx

    started = time.perf_counter()
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        cursor = None
        while True:
            params = {"order": "desc", "take": "100", **({"cursor": cursor} if cursor else {})}
            page = client.get(f"{url}/api/v1/usage/list", params=params).json()
            cursor = page.get("cursor")
            if not page["items"] or not cursor:
                break
    return time.perf_counter() - started


def bare_halves(url: str, pages: int) -> float:
    """Seconds of two bare httpx chains at once, `desc` and `asc`, each reading half the
    list and the page where they meet: what two connections at once cost this sandbox,
    the floor of reading from both ends (no validation, no writing, no start-up)."""
    import threading

    import httpx

    def half(order: str) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            cursor = None
            for _ in range(pages // 2 + 1):
                params = {"order": order, "take": "100", **({"cursor": cursor} if cursor else {})}
                cursor = client.get(f"{url}/api/v1/usage/list", params=params).json()["cursor"]

    started = time.perf_counter()
    threads = [threading.Thread(target=half, args=(order,)) for order in ("desc", "asc")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Setting:
    """A run's options, and one chain's floor over its list."""

    pages: int
    latency: int
    repeats: int

    @property
    def records(self) -> int:
        return self.pages * 100

    @property
    def requests(self) -> int:
        return self.pages + 1  # the empty page that ends the list

    @property
    def floor(self) -> float:
        return self.requests * self.latency / 1000

    @classmethod
    def parse(cls, description: str) -> Setting:
        """The command line's setting; the machine it runs on, printed."""
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--pages", type=int, default=200, help="pages of 100 records")
        parser.add_argument("--latency", type=int, default=50, help="ms per response")
        parser.add_argument("--repeats", type=int, default=3)
        options = parser.parse_args()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.platform()}"
        )
        return cls(options.pages, options.latency, options.repeats)

    def header(self, bare: float, halves: float) -> None:
        """The run's line, the bare chain's figure (this sandbox's real RTT), and the two
        bare halves' (its real RTT with two connections at once)."""
        print(
            f"\n{self.records:,} records, {self.latency} ms a response, one chain's floor "
            f"{self.requests} x {self.latency} ms = {self.floor:.2f} s; median of {self.repeats}:"
        )
        print(
            f"  a bare httpx chain: {bare:6.2f} s = {bare / self.floor:.3f} x pages x RTT "
            f"({bare / self.requests * 1000:.1f} ms a request: the sandbox's real RTT)"
        )
        print(
            f"  two bare httpx chains at once, each to the middle: {halves:6.2f} s = "
            f"{halves / self.floor:.3f} x pages x RTT, {halves / bare:.3f} x the bare chain "
            f"({halves / (self.pages // 2 + 1) * 1000:.1f} ms a request with two at once)"
        )

    def figure(self, label: str, streams: int, median: float, bare: float, halves: float) -> None:
        """One run's line: against pages x RTT, the bare chain and, for two, the two halves."""
        goal = (
            f", {median / halves:.3f} x the two bare halves   (goal <= 0.55 x the bare chain)"
            if streams == 2
            else ""
        )
        print(
            f"  {label} --streams {streams}: {median:6.2f} s = {median / self.floor:.3f} x "
            f"pages x RTT, {median / bare:.3f} x the bare chain{goal}"
        )
