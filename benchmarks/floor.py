"""The floor: a plain httpx loop over every page, each record written as a JSON line.

No validation, no checkpoints, no atomic rename: the least any client can do.
Usage: python benchmarks/floor.py API_URL TOKEN OUTFILE
"""

from __future__ import annotations

import json
import sys

import httpx


def main() -> None:
    api_url, token, target = sys.argv[1:4]
    cursor = None
    with (
        httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client,
        open(target, "w") as out,
    ):
        while True:
            params = {"take": "100", **({"cursor": cursor} if cursor else {})}
            page = client.get(api_url + "/api/v1/usage/list", params=params).json()
            if not page["items"]:
                break
            for item in page["items"]:
                out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
            cursor = page.get("cursor")
            if not cursor:
                break


if __name__ == "__main__":
    main()
