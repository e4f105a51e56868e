"""Start-up of `usage --help`, `usage list --help` and a TAB, paired against bare Python.

Each repeat runs every case once, in turn, so that a burst of load on the shared
machine falls on all of them alike; the figure kept is the median of each case's
ratio to the bare interpreter of the same repeat. A TAB is timed in each shell
that is installed, as the shell runs it: the script sourced once, then the
completion function called for the words of one command line.

    python benchmarks/startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPLETIONS = HERE.parent / "completions"
# Four TABs of one session: a command, a flag, a fixed value, a zone.
LINES = ("usage su", "usage list --bo", "usage summary --by ", "usage list --tz Europe/Be")


def usage_command() -> list[str]:
    found = shutil.which("usage", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "usage_cli"]


def tab_program(shell: str, line: str, tabs: int = 1) -> list[str] | None:
    """A command that loads the completion script and presses TAB at the end of `line`,
    `tabs` times (the script is sourced once, as a shell does when it starts)."""
    if shutil.which(shell) is None:
        return None
    script = COMPLETIONS / f"usage.{shell}"
    words = line.split(" ")
    quoted = " ".join(f"'{word}'" for word in words)
    if shell == "bash":
        tab = f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _usage_completion usage"
        body = f"source {script}; for i in $(seq {tabs}); do {tab}; done >/dev/null"
        return ["bash", "--norc", "--noprofile", "-c", body]
    if shell == "zsh":
        tab = f"_usage_complete_words {quoted}"
        body = f"compdef() {{ : }}; source {script}; for i in $(seq {tabs}); do {tab}; done"
        return ["zsh", "-f", "-c", body + " >/dev/null"]
    body = f"source {script}; for i in (seq {tabs}); complete -C '{line}'; end >/dev/null"
    return ["fish", "--no-config", "-c", body]


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    options = parser.parse_args()
    usage = usage_command()
    cases: dict[str, list[str]] = {
        "usage --help": [*usage, "--help"],
        "usage list --help": [*usage, "list", "--help"],
    }
    for shell in ("bash", "zsh", "fish"):
        for line in (LINES[1], LINES[3]):
            program = tab_program(shell, line)
            if program is not None:
                cases[f"{shell}: source, one TAB ('{line}')"] = program
        hundred = tab_program(shell, LINES[3], 101)
        if hundred is not None:
            cases[f"{shell}: source, 101 TABs"] = hundred
    bare_command = [sys.executable, "-c", "pass"]
    times: dict[str, list[float]] = {name: [] for name in ["python -c pass", *cases]}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    with open("/proc/loadavg") as handle:
        before = handle.read().split()[:3]
    for _ in range(options.repeats):
        bare = timed(bare_command)
        times["python -c pass"].append(bare)
        for name, command in cases.items():
            seconds = timed(command, dict(os.environ))
            times[name].append(seconds)
            ratios[name].append(seconds / bare)
    with open("/proc/loadavg") as handle:
        after = handle.read().split()[:3]
    print(f"start-up, {options.repeats} paired repeats; load average {before} -> {after}")
    print(f"  {'python -c pass':>48}: {statistics.median(times['python -c pass']) * 1000:6.1f} ms")
    for name in cases:
        median_ms = statistics.median(times[name]) * 1000
        ratio = statistics.median(ratios[name])
        print(f"  {name:>48}: {median_ms:6.1f} ms  {ratio:5.1f} x bare (median of pairs)")
    for shell in ("bash", "zsh", "fish"):
        one, many = f"{shell}: source, one TAB ('{LINES[3]}')", f"{shell}: source, 101 TABs"
        if many in times:
            # What one more TAB costs in a shell already running, the script loaded.
            each = (statistics.median(times[many]) - statistics.median(times[one])) / 100
            print(f"  {shell}: a TAB in a running shell ('{LINES[3]}'): {each * 1000:.2f} ms")


if __name__ == "__main__":
    main()
