"""All of `usage`'s performance figures, in one run, each with its goal. By hand, never in CI:

    python benchmarks/bench.py [--repeats 5] [--quick]

1. Throughput against the floor (benchmarks/floor.py: a plain httpx loop writing
   JSON lines, no validation) at 50k and 200k records, alternating floor /
   export .jsonl / .csv / .jsonl.gz over the same sandbox: medians and their ratios.
2. Latency: with 20 ms and 50 ms injected per response, a single-stream export's
   total time against requests x the sandbox's real RTT (a bare httpx chain's time
   a request), and the cost of a page alone (200 pages less 100 pages).
3. Both ends at once: `benchmarks/sync_streams.py` (a first sync), `--streams 1`
   against `--streams 2` at 50 ms, each against a bare chain and two bare chains at
   once (`benchmarks/chains.py`).
4. Against what a user would write instead: a curl + jq loop
   (benchmarks/curl_jq.sh) and requests + csv.DictWriter
   (benchmarks/dictwriter.py), alternating with `usage export`.
5. Peak RSS of `usage export` at 10k and 200k records (benchmarks/export_memory.py).
6. Start-up of `usage --version`, `usage --help` and `usage list --help` against a
   bare `python -c pass`, and a TAB in bash, zsh and fish (benchmarks/startup.py).

Each sandbox runs in its own process, so the client is what is measured. The
package's bytecode is compiled first, as a wheel install does (an editable
install under PYTHONDONTWRITEBYTECODE would compile every module on every run).
`benchmarks/breakdown.py` splits an export's time per record.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chains import bare_chain
from export_memory import TOKEN, measure, start_sandbox, usage_command

HERE = Path(__file__).resolve().parent
# x floor, whole process, start-up included (csv and jsonl.gz: issue 24, goal 4)
GOALS = {"jsonl": 0.9, "csv": 1.05, "jsonl.gz": 1.1}
LATENCY_GOAL = 1.02  # x requests x the sandbox's real RTT (a bare chain's time a request)


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)"


def verdict(ratio: float, goal: float) -> str:
    return f"goal <= {goal:.2f} x: {'met' if ratio <= goal else 'MISSED'}"


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def child_cpu() -> float:
    """User and system CPU seconds of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def throughput(records: int, repeats: int) -> None:
    sandbox, url = start_sandbox(records)
    env = dict(os.environ, CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN=TOKEN)
    runs: dict[str, list[float]] = {"floor": [], "jsonl": [], "csv": [], "jsonl.gz": []}
    # The CPU each run took (the sandbox's own is not in it): steadier than wall
    # time on a shared machine, where others' work stretches both alike.
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            commands = {
                "floor": [sys.executable, str(HERE / "floor.py"), url, TOKEN, f"{scratch}/f.jsonl"],
                "jsonl": [*usage_command(), "export", f"{scratch}/u.jsonl", "-q", "--force"],
                "csv": [*usage_command(), "export", f"{scratch}/u.csv", "-q", "--force"],
                "jsonl.gz": [*usage_command(), "export", f"{scratch}/u.jsonl.gz", "-q", "--force"],
            }
            timed(commands["floor"], env)  # warm the sandbox's caches and the OS
            for _ in range(repeats):
                for name, command in commands.items():
                    before = child_cpu()
                    runs[name].append(timed(command, env))
                    cpu[name].append(child_cpu() - before)
    finally:
        sandbox.terminate()
        sandbox.wait()
    floor = statistics.median(runs["floor"])
    print(f"\nthroughput, {records:,} records, median of {repeats} alternating runs ({load()}):")
    for name, times in runs.items():
        median = statistics.median(times)
        # Ratios of each pair of runs made back to back: load moves both alike.
        paired = statistics.median(t / f for t, f in zip(times, runs["floor"], strict=True))
        paired_cpu = statistics.median(c / f for c, f in zip(cpu[name], cpu["floor"], strict=True))
        goal = (
            f"   paired median {paired:4.2f} x, {verdict(paired, GOALS[name])}; "
            f"CPU {statistics.median(cpu[name]):.2f} s, paired {paired_cpu:4.2f} x"
            if name in GOALS
            else f"; CPU {statistics.median(cpu[name]):.2f} s"
        )
        print(
            f"  {name:>8}: {median:6.2f} s   {records / median:>9,.0f} records/s   "
            f"{median / floor:4.2f} x floor{goal}"
        )


def latency(pages: int, per_page_ms: int) -> tuple[float, float, float]:
    """Seconds a single-stream export of `pages` pages takes at `per_page_ms` a response,
    the floor's whole process, and a bare httpx chain's (in this process, no start-up)."""
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
    export = ["export", "-q", "--force"]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            bare = bare_chain(url)  # also warms the sandbox
            seconds = timed([*usage_command(), *export, f"{scratch}/l.jsonl"], env)
            floor = timed([sys.executable, str(HERE / "floor.py"), url, TOKEN, f"{scratch}/f"], env)
            bare = min(bare, bare_chain(url))
    finally:
        process.terminate()
        process.wait()
    return seconds, floor, bare


def latencies(pages: int, rtts: tuple[int, ...] = (20, 50)) -> None:
    print(f"\nlatency, single stream ({load()}):")
    for rtt in rtts:
        whole, floor_whole, bare = latency(pages, rtt)
        half, floor_half, _ = latency(pages // 2, rtt)
        requests = pages + 1  # the empty page that ends the list
        injected = requests * rtt / 1000
        # The sandbox's real round trip: a bare chain's time a request.
        real = bare / requests
        ratio = whole / bare
        # The pages alone: what 200 pages cost more than 100, so start-up cancels out.
        span = (pages - pages // 2) * real
        marginal, floor_marginal = (whole - half) / span, (floor_whole - floor_half) / span
        print(
            f"  {rtt} ms injected, {requests} requests: a bare httpx chain {bare:.2f} s "
            f"({real * 1000:.1f} ms a request: the real RTT)\n"
            f"      usage export: {whole:.2f} s = {ratio:.3f} x pages x real RTT "
            f"({whole / injected:.3f} x the injected), {verdict(ratio, LATENCY_GOAL)}\n"
            f"      a page alone {marginal:.3f} x real RTT; the floor's whole process "
            f"{floor_whole:.2f} s = {floor_whole / bare:.3f} x, a page alone "
            f"{floor_marginal:.3f} x"
        )


def against_scripts(records: int, curl_records: int, repeats: int) -> None:
    """`usage export` against what a user would write instead, alternating, medians."""
    which = (
        "requests" if importlib.util.find_spec("requests") else "httpx (requests is not installed)"
    )
    print(f"\nagainst scripts a user would write, median of {repeats} ({load()}):")
    for size, name, script, fmt in (
        (curl_records, "curl + jq loop", ["bash", str(HERE / "curl_jq.sh")], "jsonl"),
        (
            records,
            f"{which} + csv.DictWriter",
            [sys.executable, str(HERE / "dictwriter.py")],
            "csv",
        ),
    ):
        sandbox, url = start_sandbox(size)
        env = dict(os.environ, CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN=TOKEN)
        theirs: list[float] = []
        ours: list[float] = []
        try:
            with tempfile.TemporaryDirectory() as scratch:
                usage = [*usage_command(), "export", f"{scratch}/u.{fmt}", "-q", "--force"]
                timed(usage, env)  # warm
                for _ in range(repeats):
                    theirs.append(timed([*script, url, TOKEN, f"{scratch}/s.{fmt}"], env))
                    ours.append(timed(usage, env))
        finally:
            sandbox.terminate()
            sandbox.wait()
        mine, other = statistics.median(ours), statistics.median(theirs)
        print(
            f"  {size:,} records, {name}: {other:.2f} s; usage export .{fmt}: {mine:.2f} s "
            f"= {mine / other:.2f} x its time"
        )


def both_ends(pages: int, repeats: int) -> None:
    """Item 3: a first sync read from both ends, in its own process."""
    for script in ("sync_streams.py",):
        print(f"\nboth ends at once ({script}; {load()}):", flush=True)
        command = [sys.executable, str(HERE / script), "--pages", str(pages)]
        done = subprocess.run(
            [*command, "--repeats", str(repeats)], check=True, capture_output=True, text=True
        )
        # Its machine line is this run's too.
        print("\n".join(done.stdout.splitlines()[1:]).strip("\n"))


def memory(sizes: list[int]) -> None:
    print("\npeak RSS of usage export:")
    measure(sizes)


def startup(repeats: int = 15) -> None:
    """`usage --version` here; help and a TAB in each shell in `startup.py`, paired."""
    bare = statistics.median(timed([sys.executable, "-c", "pass"]) for _ in range(repeats))
    version = statistics.median(timed([*usage_command(), "--version"]) for _ in range(repeats))
    print(f"\nstart-up, median of {repeats}:")
    print(f"  usage --version: {version * 1000:6.1f} ms  {version / bare:5.1f} x bare")
    done = subprocess.run(
        [sys.executable, str(HERE / "startup.py"), "--repeats", str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    print(done.stdout.rstrip("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description="usage's performance figures")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    options = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}; {load()}"
    )
    import usage_cli

    compileall.compile_dir(Path(usage_cli.__file__).parent, quiet=1)
    if options.quick:
        throughput(10_000, 3)
        latencies(40)
        both_ends(60, 1)
        against_scripts(10_000, 2_000, 3)
        memory([2_000, 20_000])
    else:
        throughput(50_000, options.repeats)
        throughput(200_000, max(3, options.repeats // 2 + 1))
        latencies(200)
        both_ends(200, 3)
        against_scripts(50_000, 10_000, 3)
        memory([10_000, 200_000])
    startup()


if __name__ == "__main__":
    main()
