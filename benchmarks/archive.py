"""The archive's figures, each with its goal (issue 24). Run by hand:

    python benchmarks/archive.py [--records 1000000] [--paired 200000] [--repeats 5]
                                 [--keep PATH]

Every figure is whole `usage` processes (start-up included) against a
`usage sandbox` process on 127.0.0.1, and the machine's load is printed beside
it: the machine is shared, so compare paired ratios, not absolute times.

1. Paired at `--paired` records, alternating, `--repeats` times (medians, and
   the median of each pair's ratio): `usage export x.jsonl` against a first
   `usage sync --streams 1` of the same records; the archive's size against the
   JSON lines'; `usage verify` of that archive against a full-table scan of it
   in the sqlite3 shell.
2. At `--records` (the sandbox seeds them): a first sync, then reads of the
   archive (median of 3): `summary --db` by type, by bot, and by two dimensions
   with a time bucket; `verify`; the archive's size against its JSON lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TOKEN = "bench-token"
ANCHOR = "2026-11-24T00:00:00Z"
USAGE = str(Path(sys.executable).parent / "usage")


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def sandbox(records: int) -> Iterator[dict[str, str]]:
    """A sandbox process serving `records`; the environment that reads it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            USAGE,
            "sandbox",
            "--port",
            str(port),
            "--records",
            str(records),
            "--seed",
            "5",
            "--anchor",
            ANCHOR,
            "--token",
            TOKEN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "records on" in first, first
        print(f"sandbox seeded {records:,} records in {time.perf_counter() - started:.1f}s")
        yield dict(
            os.environ,
            CHATBOTKIT_API_URL=f"http://127.0.0.1:{port}",
            CHATBOTKIT_API_TOKEN=TOKEN,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def usage(*args: str) -> list[str]:
    return [USAGE, *args]


def timed(command: list[str], repeats: int = 1, env: dict[str, str] | None = None) -> float:
    """The median wall time of `repeats` runs of `command`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env or dict(os.environ),
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def verdict(value: float, goal: float, unit: str = "") -> str:
    return f"goal ≤ {goal:g}{unit}: {'met' if value <= goal else 'missed'}"


def ratio(pairs: list[tuple[float, float]]) -> float:
    return statistics.median(a / b for a, b in pairs)


def paired(records: int, repeats: int, scratch: Path) -> None:
    print(f"\n1. paired at {records:,} records, {repeats} repeats ({load()})")
    sqlite3 = shutil.which("sqlite3")
    with sandbox(records) as env:
        syncs: list[tuple[float, float]] = []
        for n in range(repeats):
            jsonl, db = scratch / f"x{n}.jsonl", scratch / f"x{n}.db"
            export = timed([USAGE, "export", str(jsonl), "-q"], env=env)
            sync = timed([USAGE, "sync", "--db", str(db), "--quiet", "--streams", "1"], env=env)
            syncs.append((sync, export))
            print(f"  export {export:.2f}s, first sync {sync:.2f}s ({load()})")
            if n:
                jsonl.unlink()
                for companion in scratch.glob(f"x{n}.db*"):
                    companion.unlink()
    first, lines = scratch / "x0.db", scratch / "x0.jsonl"
    exports = statistics.median(b for _, b in syncs)
    sync_s = statistics.median(a for a, _ in syncs)
    print(
        f"  first sync {sync_s:.2f}s ({records / sync_s / 1000:.1f}k records/s), export .jsonl "
        f"{exports:.2f}s: {ratio(syncs):.2f} x export (paired), {verdict(ratio(syncs), 1.5, ' x')}"
    )
    size = first.stat().st_size / lines.stat().st_size
    print(
        f"  archive {first.stat().st_size / 2**20:.1f} MiB, JSON lines "
        f"{lines.stat().st_size / 2**20:.1f} MiB: {size:.2f} x, {verdict(size, 1.5, ' x')}"
    )
    if sqlite3 is None:
        print("  (no sqlite3 shell: verify against a full-table scan skipped)")
        return
    scans: list[tuple[float, float]] = []
    scan = "SELECT type, count(*), sum(length(raw)) FROM records GROUP BY type"
    for _ in range(repeats):
        verify = timed([USAGE, "verify", str(first)])
        shell = timed([sqlite3, "-readonly", str(first), scan])
        scans.append((verify, shell))
    print(
        f"  verify {statistics.median(a for a, _ in scans):.2f}s, a full-table scan in the "
        f"sqlite3 shell {statistics.median(b for _, b in scans):.2f}s: {ratio(scans):.2f} x, "
        f"{verdict(ratio(scans), 1.5, ' x')} ({load()})"
    )


def build(db: Path, records: int) -> None:
    """A first sync of `records` seeded by a sandbox into `db`."""
    with sandbox(records) as env:
        seconds = timed([USAGE, "sync", "--db", str(db), "--quiet"], env=env)
    print(
        f"  first sync {seconds:.1f}s ({records / seconds / 1000:.1f}k records/s), "
        f"{verdict(seconds, 60, ' s')} ({load()})"
    )


def at_scale(records: int, keep: Path | None, scratch: Path) -> None:
    print(f"\n2. {records:,} records ({load()})")
    db = keep or scratch / "big.db"
    if not db.exists():
        build(db, records)
    lines = scratch / "big.jsonl"
    seconds = timed([USAGE, "export", str(lines), "--db", str(db), "-q", "--force"])
    size = db.stat().st_size / lines.stat().st_size
    print(
        f"  archive {db.stat().st_size / 2**20:.0f} MiB, JSON lines "
        f"{lines.stat().st_size / 2**20:.0f} MiB: {size:.2f} x, {verdict(size, 1.5, ' x')} "
        f"(export --db of it: {seconds:.1f}s)"
    )
    lines.unlink()
    reads = {
        "usage --version (start-up, for scale)": ([USAGE, "--version"], None),
        "summary --db --by type": ([USAGE, "summary", "--db", str(db), "--by", "type"], 0.5),
        "summary --db --by bot": ([USAGE, "summary", "--db", str(db), "--by", "bot"], 0.5),
        "summary --db --by day": ([USAGE, "summary", "--db", str(db), "--by", "day"], None),
        "summary --db --by bot --by day": (
            [USAGE, "summary", "--db", str(db), "--by", "bot", "--by", "day"],
            0.8,
        ),
        "summary --db --by type --by week --tz Europe/Berlin": (
            [
                USAGE,
                "summary",
                "--db",
                str(db),
                "--by",
                "type",
                "--by",
                "week",
                "--tz",
                "Europe/Berlin",
            ],
            0.8,
        ),
        "list --db --bot-id bot_1 (first screen)": (
            [USAGE, "list", "--db", str(db), "--bot-id", "bot_1"],
            None,
        ),
        "list --db --conversation-id conv_7 (first screen; no index)": (
            [USAGE, "list", "--db", str(db), "--conversation-id", "conv_7"],
            None,
        ),
        "verify": ([USAGE, "verify", str(db)], 3.0),
    }
    for name, (command, goal) in reads.items():
        seconds = timed(command, 3)
        said = f", {verdict(seconds, goal, ' s')}" if goal is not None else ""
        print(f"  {name}: {seconds:.3f}s{said}")
    print(f"  ({load()})")


def main(measure: Callable[[Path], None] | None = None) -> None:
    """Every figure; or, given `measure`, only the large archive, built (or reused) and
    then measured by it (benchmarks/report.py measures reports of that archive)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--paired", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the large archive here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if measure is not None:
            path = options.keep or Path(scratch) / "big.db"
            if not path.exists():
                build(path, options.records)
            measure(path)
            return
        if options.paired:
            paired(options.paired, options.repeats, Path(scratch))
        if options.records:
            at_scale(options.records, options.keep, Path(scratch))


if __name__ == "__main__":
    main()
