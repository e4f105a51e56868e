"""Peak RSS of `usage export` at 10k and 200k records: memory must stay flat.

Run by hand from a checkout with the project installed:

    python benchmarks/export_memory.py [--sizes 10000,200000]

It starts `usage sandbox` in its own process for each size, runs
`usage export` to .jsonl and .csv against it, and reads each export's peak
resident set size from the kernel (getrusage of the finished child).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "bench-token"


def usage_command() -> list[str]:
    script = Path(sys.executable).parent / "usage"
    return [str(script)] if script.exists() else [shutil.which("usage") or "usage"]


def start_sandbox(records: int) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, CHATBOTKIT_API_TOKEN=TOKEN)
    process = subprocess.Popen(
        [*usage_command(), "sandbox", "--port", "0", "--records", str(records), "-q"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("export CHATBOTKIT_API_URL="):
            return process, line.split("=", 1)[1].strip()
    raise RuntimeError("the sandbox did not start")


def peak_rss_of(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    started = time.perf_counter()
    pid = os.posix_spawn(command[0], command, env)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def measure(sizes: list[int]) -> dict[tuple[int, str], float]:
    """Peak RSS (MiB) of `usage export` per (records, format); prints each as it goes."""
    print(f"{'records':>8} {'format':>6} {'seconds':>8} {'peak RSS MiB':>13}")
    results: dict[tuple[int, str], float] = {}
    for size in sizes:
        sandbox, url = start_sandbox(size)
        try:
            env = dict(os.environ, CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN=TOKEN)
            with tempfile.TemporaryDirectory() as scratch:
                for fmt in ("jsonl", "csv"):
                    target = Path(scratch) / f"out.{fmt}"
                    command = [*usage_command(), "export", str(target), "-q", "--force"]
                    seconds, rss = peak_rss_of(command, env)
                    results[(size, fmt)] = rss
                    print(f"{size:>8} {fmt:>6} {seconds:>8.2f} {rss:>13.1f}")
        finally:
            sandbox.terminate()
            sandbox.wait()
    small, large = min(sizes), max(sizes)
    for fmt in ("jsonl", "csv"):
        ratio = results[(large, fmt)] / results[(small, fmt)]
        print(f"{fmt}: peak RSS at {large} / at {small} = {ratio:.2f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,200000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    measure(sizes)


if __name__ == "__main__":
    main()
