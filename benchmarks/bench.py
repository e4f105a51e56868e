"""All of `usage`'s performance figures, in one run. Run by hand, never in CI:

    python benchmarks/bench.py [--records 50000] [--repeats 5] [--quick]

1. Throughput against the floor (benchmarks/floor.py: a plain httpx loop writing
   JSON lines, no validation), alternating floor / export .jsonl / export .csv
   over the same sandbox, reporting medians and their ratios.
2. Latency: with 50 ms injected per page, total time against pages x 50 ms.
3. Peak RSS of `usage export` at 10k and 200k records (benchmarks/export_memory.py).
4. Start-up of `usage --version`, `usage --help` and a TAB completion against a
   bare `python -c pass`.

Each sandbox runs in its own process, so the client is what is measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from export_memory import TOKEN, measure, start_sandbox, usage_command

HERE = Path(__file__).resolve().parent


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def throughput(records: int, repeats: int) -> None:
    sandbox, url = start_sandbox(records)
    env = dict(os.environ, CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN=TOKEN)
    runs: dict[str, list[float]] = {"floor": [], "jsonl": [], "csv": []}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            commands = {
                "floor": [sys.executable, str(HERE / "floor.py"), url, TOKEN, f"{scratch}/f.jsonl"],
                "jsonl": [*usage_command(), "export", f"{scratch}/u.jsonl", "-q", "--force"],
                "csv": [*usage_command(), "export", f"{scratch}/u.csv", "-q", "--force"],
            }
            timed(commands["floor"], env)  # warm the sandbox's caches and the OS
            for _ in range(repeats):
                for name, command in commands.items():
                    runs[name].append(timed(command, env))
    finally:
        sandbox.terminate()
        sandbox.wait()
    floor = statistics.median(runs["floor"])
    print(f"\nthroughput, {records:,} records, median of {repeats} alternating runs:")
    for name, times in runs.items():
        median = statistics.median(times)
        print(
            f"  {name:>5}: {median:6.2f} s   {records / median:>9,.0f} records/s   "
            f"{median / floor:4.2f} x floor"
        )


def latency(pages: int, per_page_ms: int = 50) -> None:
    records = pages * 100
    env_sandbox = dict(os.environ, CHATBOTKIT_API_TOKEN=TOKEN)
    process = subprocess.Popen(
        [
            *usage_command(),
            "sandbox",
            "--port",
            "0",
            "--records",
            str(records),
            "-q",
            "--latency",
            str(per_page_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env_sandbox,
    )
    assert process.stdout is not None
    url = next(line for line in process.stdout if line.startswith("export CHATBOTKIT_API_URL="))
    url = url.split("=", 1)[1].strip()
    env = dict(os.environ, CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN=TOKEN)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            seconds = timed([*usage_command(), "export", f"{scratch}/l.jsonl", "-q"], env)
    finally:
        process.terminate()
        process.wait()
    requests = pages + 1  # the empty page that ends the list
    bound = requests * per_page_ms / 1000
    print(
        f"\nlatency, {per_page_ms} ms a page, {requests} requests: {seconds:.2f} s "
        f"= {seconds / bound:.3f} x ({requests} x {per_page_ms} ms)"
    )


def memory(sizes: list[int]) -> None:
    print("\npeak RSS of usage export:")
    measure(sizes)


def startup(repeats: int = 15) -> None:
    completion = dict(
        os.environ, COMP_WORDS="usage list --bo", COMP_CWORD="2", _USAGE_COMPLETE="complete_bash"
    )
    cases = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "usage --version": ([*usage_command(), "--version"], None),
        "usage --help": ([*usage_command(), "--help"], None),
        "usage list --help": ([*usage_command(), "list", "--help"], None),
        "TAB completion": (usage_command(), completion),
    }
    medians = {
        name: statistics.median(timed(cmd, env) for _ in range(repeats))
        for name, (cmd, env) in cases.items()
    }
    bare = medians["python -c pass"]
    print(f"\nstart-up, median of {repeats}:")
    for name, seconds in medians.items():
        print(f"  {name:>18}: {seconds * 1000:6.1f} ms  {seconds / bare:5.1f} x bare")


def main() -> None:
    parser = argparse.ArgumentParser(description="usage's performance figures")
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    options = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    if options.quick:
        throughput(10_000, 3)
        latency(40)
        memory([2_000, 20_000])
    else:
        throughput(options.records, options.repeats)
        latency(200)
        memory([10_000, 200_000])
    startup()


if __name__ == "__main__":
    main()
