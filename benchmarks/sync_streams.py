"""A first sync read from both ends against one cursor chain. By hand:

    python benchmarks/sync_streams.py [--pages 200] [--latency 50] [--repeats 3]

One `usage sandbox` (its own process) answers every request `--latency` ms
late. `usage sync` fills a new archive with `--streams 1` and `--streams 2`,
alternating, whole processes; each pair of archives must read back the same
(`usage list --db --all -o jsonl`, byte for byte). The figure is wall time
(start-up and SQLite included) against the floor of one chain, pages x RTT,
where pages counts the list's requests (its pages and the empty one that ends
it). Goal for two streams: <= 0.55.

Export reads one chain; the fast way to a full history is a first sync, then
`usage export --db`. So each repeat also times `usage export x.jsonl` against
the API (one chain) and `usage export x.jsonl --db` from the two-stream
archive, and the two files must be byte for byte the same.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from chains import Setting, bare_chain, bare_halves, start_sandbox, timed
from export_memory import TOKEN, usage_command


def read_back(db: Path, env: dict[str, str]) -> bytes:
    command = [*usage_command(), "list", "--db", str(db), "--all", "-o", "jsonl"]
    return subprocess.run(command, env=env, check=True, capture_output=True).stdout


def main() -> None:
    setting = Setting.parse("sync --streams 2 against one chain at latency")
    options = setting
    sandbox, url = start_sandbox(setting.records, options.latency)
    env = dict(os.environ, CHATBOTKIT_API_URL=url, CHATBOTKIT_API_TOKEN=TOKEN)
    runs: dict[int, list[float]] = {1: [], 2: []}
    exports: dict[str, list[float]] = {"api": [], "db": []}
    try:
        bare = statistics.median(bare_chain(url) for _ in range(options.repeats))
        halves = statistics.median(bare_halves(url, setting.pages) for _ in range(options.repeats))
        with tempfile.TemporaryDirectory() as scratch:
            for repeat in range(options.repeats):
                for streams in (1, 2):
                    db = Path(scratch) / f"r{repeat}-s{streams}.db"
                    command = [*usage_command(), "sync", "--db", str(db), "-q"]
                    runs[streams].append(timed([*command, "--streams", str(streams)], env))
                one, two = (Path(scratch) / f"r{repeat}-s{n}.db" for n in (1, 2))
                if read_back(one, env) != read_back(two, env):
                    sys.exit("--streams 1 and 2 filled archives that read back differently")
                files = {where: Path(scratch) / f"r{repeat}-{where}.jsonl" for where in exports}
                export = [*usage_command(), "export", "-q"]
                exports["api"].append(timed([*export, str(files["api"])], env))
                exports["db"].append(timed([*export, str(files["db"]), "--db", str(two)], env))
                if files["api"].read_bytes() != files["db"].read_bytes():
                    sys.exit("export from the API and export --db wrote different files")
    finally:
        sandbox.terminate()
        sandbox.wait()
    setting.header(bare, halves)
    for streams, times in runs.items():
        setting.figure("first sync", streams, statistics.median(times), bare, halves)
    two_over_one = statistics.median(b / a for a, b in zip(runs[1], runs[2], strict=True))
    print(f"  --streams 2 / --streams 1, paired: {two_over_one:.3f}")
    print("  each pair of archives read back byte for byte the same")
    api, db = (statistics.median(exports[where]) for where in ("api", "db"))
    first = statistics.median(runs[2])
    print(
        f"  usage export (one chain): {api:6.2f} s = {api / setting.floor:.3f} x pages x RTT; "
        f"export --db: {db:.2f} s; first sync --streams 2 then export --db: {first + db:.2f} s "
        f"= {(first + db) / api:.3f} x the export (the same file)"
    )


if __name__ == "__main__":
    main()
