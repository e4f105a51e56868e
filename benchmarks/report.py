"""`usage report` over the archive at scale. Run by hand:

    python benchmarks/report.py [--records 1000000] [--keep PATH]

Builds (or reuses, with `--keep`) the archive of `benchmarks/archive.py`, then
times `usage report` from it, each a new process, median of 3: a 30-day and a
90-day window as HTML, with `--compare previous`, as Markdown, and without the
archive's `verify` (`--no-verify`), which recomputes the whole hash chain and is
most of a report's time on a big archive. The goal is under 2 s for a million
records; the page's size is printed beside each.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from archive import main, timed, usage  # benchmarks/archive.py, run from this folder

# The archive's records end on 2026-11-24 (archive.py's anchor).
WINDOWS = {
    "30 days": ("--since", "2026-10-25", "--until", "2026-11-23"),
    "90 days": ("--since", "2026-08-26", "--until", "2026-11-23"),
}


def reports(path: Path) -> None:
    db = ["--db", str(path)]
    with tempfile.TemporaryDirectory() as scratch:
        html, md = f"{scratch}/r.html", f"{scratch}/r.md"
        cases = {
            "report 30 days, html, --no-verify": (html, *db, *WINDOWS["30 days"], "--no-verify"),
            "report 90 days, html, --no-verify": (html, *db, *WINDOWS["90 days"], "--no-verify"),
            "report 30 days, html, --compare previous, --no-verify": (
                html,
                *db,
                *WINDOWS["30 days"],
                "--compare",
                "previous",
                "--no-verify",
            ),
            "report 30 days, markdown, --no-verify": (md, *db, *WINDOWS["30 days"], "--no-verify"),
            "report 30 days, html, with verify": (html, *db, *WINDOWS["30 days"]),
        }
        print("usage report from the archive, each a new process, median of 3:")
        for name, args in cases.items():
            repeats = 1 if "with verify" in name else 3
            seconds = timed(usage("report", *args, "-q"), repeats)
            size = Path(args[0]).stat().st_size
            print(f"  {name}: {seconds:.3f}s ({size / 1024:,.0f} KiB)")


if __name__ == "__main__":
    main(reports)
