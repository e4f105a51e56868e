"""The archive at scale: sync a million records, then time offline reads. Run by hand:

    python benchmarks/archive.py [--records 1000000] [--keep PATH]

1. `usage sync` of N records from an in-process emulator (no sockets: what is
   measured is the archive's writing, one transaction a page), and a second
   sync with nothing new.
2. Offline reads as a person runs them, each a fresh `usage` process, median
   of 3: the first screen of `list --db --bot-id`, `summary --db --by day`
   and other groupings, a `--meta` filter, and an export of everything.
3. `usage verify` of the whole archive (it recomputes the hash chain).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

TOKEN = "bench-token"


def build(path: Path, records: int) -> None:
    from usage_cli.cli import run
    from usage_cli.runtime import Runtime, written
    from usage_cli.sandbox.data import generate_records
    from usage_cli.sandbox.emulator import Emulator

    started = time.perf_counter()
    anchor = datetime(2026, 11, 24, tzinfo=UTC)
    emulator = Emulator(generate_records(records, seed=5, anchor=anchor), token=TOKEN)
    print(f"generated {records:,} records in {time.perf_counter() - started:.1f}s")
    for label in ("first sync", "sync with nothing new"):
        runtime = Runtime.memory(transport=emulator.transport())
        started = time.perf_counter()
        code = run(
            ["--api-url", "http://bench", "--token", TOKEN, "sync", "--db", str(path)],
            runtime=runtime,
        )
        elapsed = time.perf_counter() - started
        assert code == 0, written(runtime.stderr)
        print(f"{label}: {elapsed:.2f}s ({written(runtime.stderr).splitlines()[-1]})")
    print(f"archive size: {path.stat().st_size / 2**20:,.0f} MiB")


def usage(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "usage"), *args]


def timed(command: list[str], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def reads(path: Path) -> None:
    db = ["--db", str(path)]
    cases = {
        "usage --version (start-up, for scale)": usage("--version"),
        "list --db --bot-id bot_1 (first screen)": usage("list", *db, "--bot-id", "bot_1"),
        "list --db (first screen)": usage("list", *db),
        "list --db --meta reason=retry (first screen)": usage(
            "list", *db, "--meta", "reason=retry"
        ),
        "summary --db --by day": usage("summary", *db, "--by", "day"),
        "summary --db --by bot": usage("summary", *db, "--by", "bot"),
        "summary --db --by type --by week --tz Europe/Berlin": usage(
            "summary", *db, "--by", "type", "--by", "week", "--tz", "Europe/Berlin"
        ),
        "summary --db --by day --bot-id bot_1 --since 7d": usage(
            "summary", *db, "--by", "day", "--bot-id", "bot_1", "--since", "2026-11-17"
        ),
        "summary --db --by meta.reason (reads every record)": usage(
            "summary", *db, "--by", "meta.reason"
        ),
    }
    print("\noffline reads, each a new process, median of 3:")
    for name, command in cases.items():
        print(f"  {name}: {timed(command):.3f}s")
    with tempfile.TemporaryDirectory() as scratch:
        seconds = timed(usage("export", f"{scratch}/all.jsonl", *db, "-q", "--force"), 1)
        print(f"  export --db everything to jsonl: {seconds:.2f}s")
    print(f"  verify (recomputes the chain): {timed(usage('verify', str(path)), 1):.2f}s")


def main(measure: Callable[[Path], None] = reads) -> None:
    """Build (or reuse) the archive, then `measure` it (benchmarks/report.py measures
    reports of the same archive)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the archive here")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = options.keep or Path(scratch) / "bench.db"
        if not path.exists():
            build(path, options.records)
        measure(path)


if __name__ == "__main__":
    main()
