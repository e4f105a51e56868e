"""Where an export's time goes, per record: HTTP, parse, validate, format, write.

Run by hand: python benchmarks/breakdown.py [--records 50000]

Fetches every page's body once from a sandbox in its own process (HTTP: the
client's CPU for a request and its answer, and the wall time including the
server's), then times each later step alone over those bodies, in CPU time:
parsing the JSON, validating it (pydantic-core's `validate_json`, which parses
too, less the parse alone), formatting jsonl and csv with usage's writers, and
writing (file write plus the running sha256 a checkpoint needs). The floor's
own steps (`json.loads`, `json.dumps` per record) are timed the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable

import httpx
from export_memory import TOKEN, start_sandbox
from pydantic_core import from_json

from usage_cli.formats.csv import CsvWriter
from usage_cli.formats.jsonl import JsonlWriter
from usage_cli.records import parse_page


def cpu(step: Callable[[], object], repeats: int = 3) -> float:
    """The least CPU time of `repeats` runs of `step`, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        step()
        best = min(best, time.process_time() - started)
    return best


def fetch_all(url: str) -> tuple[list[bytes], float, float]:
    """Every page's body, the client's CPU seconds and the wall seconds it took.

    Requests as `usage` makes them: one client, the query string built once.
    """
    bodies: list[bytes] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=headers) as client:
        base = f"{url}/api/v1/usage/list?order=desc&take=100"
        cursor = None
        wall, started = time.perf_counter(), time.process_time()
        while True:
            page_url = base if cursor is None else f"{base}&{httpx.QueryParams(cursor=cursor)}"
            body = client.get(page_url).content
            page = from_json(body)  # its CPU is taken off below
            bodies.append(body)
            cursor = page.get("cursor")
            if not page["items"] or not cursor:
                break
        return bodies, time.process_time() - started, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    records = parser.parse_args().records
    sandbox, url = start_sandbox(records)
    try:
        fetch_all(url)  # warm the sandbox and the OS
        bodies, http_cpu, http_wall = fetch_all(url)
    finally:
        sandbox.terminate()
        sandbox.wait()
    pages = [parse_page(body).items for body in bodies if b'"items":[]' not in body]
    count = sum(len(items) for items in pages)

    def formatted(writer_of: Callable[[io.BytesIO], object]) -> list[bytes]:
        out: list[bytes] = []
        for items in pages:
            buffer = io.BytesIO()
            writer_of(buffer).write(items)  # type: ignore[attr-defined]
            out.append(buffer.getvalue())
        return out

    jsonl, csv = formatted(JsonlWriter), formatted(lambda b: CsvWriter(b, resumed=True))

    def write(chunks: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            digest = hashlib.sha256()
            with tempfile.TemporaryFile() as file:
                for chunk in chunks:
                    file.write(chunk)
                    digest.update(chunk)
                file.flush()
                os.fsync(file.fileno())

        return run

    def per_record(seconds: float) -> str:
        return f"{seconds / count * 1e6:6.2f} µs"

    parse = cpu(lambda: [from_json(body) for body in bodies])
    http_cpu -= parse  # fetch_all parsed each body once to find the cursor
    validate = cpu(lambda: [parse_page(body) for body in bodies]) - parse
    raws = [json.loads(body)["items"] for body in bodies]
    rows = [
        ("HTTP, client CPU (httpx, one request a page)", http_cpu),
        ("HTTP, wall (the sandbox's answer included)", http_wall),
        ("parse (pydantic-core from_json)", parse),
        ("validate (validate_json less the parse)", validate),
        (
            "format jsonl (JsonlWriter)",
            cpu(lambda: [JsonlWriter(io.BytesIO()).write(p) for p in pages]),
        ),
        (
            "format csv (CsvWriter)",
            cpu(lambda: [CsvWriter(io.BytesIO(), resumed=True).write(p) for p in pages]),
        ),
        ("write jsonl (file + sha256 + fsync)", cpu(write(jsonl))),
        ("write csv (file + sha256 + fsync)", cpu(write(csv))),
        ("floor: parse (json.loads)", cpu(lambda: [json.loads(body) for body in bodies])),
        (
            "floor: format (json.dumps a record)",
            cpu(
                lambda: [
                    json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n"
                    for items in raws
                    for item in items
                ]
            ),
        ),
    ]
    print(f"per record, {count:,} records in {len(bodies)} responses (CPU unless said):")
    for name, seconds in rows:
        print(f"  {name:<48} {per_record(seconds)}")


if __name__ == "__main__":
    main()
