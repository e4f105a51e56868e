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


def tab_program(shell: str, line: str) -> list[str] | None:
    """A command that loads the completion script and presses TAB at the end of `line`."""
    if shutil.which(shell) is None:
        return None
    script = COMPLETIONS / f"usage.{shell}"
    words = line.split(" ")
    if shell == "bash":
        quoted = " ".join(f"'{word}'" for word in words)
        body = f"source {script}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; "
        body += "_usage_completion usage >/dev/null"
        return ["bash", "--norc", "--noprofile", "-c", body]
    if shell == "zsh":
        quoted = " ".join(f"'{word}'" for word in words)
        body = f"compdef() {{ : }}; source {script}; _usage_complete_words {quoted} >/dev/null"
        return ["zsh", "-f", "-c", body]
    body = f"source {script}; complete -C '{line}' >/dev/null"
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
        program = tab_program(shell, LINES[1])
        if program is not None:
            cases[f"TAB, {shell} ('{LINES[1]}')"] = program
            cases[f"{shell} alone"] = [shell, "-c", ":"]
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
    print(f"  {'python -c pass':>40}: {statistics.median(times['python -c pass']) * 1000:6.1f} ms")
    for name in cases:
        median_ms = statistics.median(times[name]) * 1000
        ratio = statistics.median(ratios[name])
        print(f"  {name:>40}: {median_ms:6.1f} ms  {ratio:5.1f} x bare (median of pairs)")


if __name__ == "__main__":
    main()
