"""What a user might write instead of `usage export x.csv`: requests and csv.DictWriter.

About twenty lines, and it does less: no validation, no retries, no checkpoint
or manifest, `meta` written as a Python dict, times left as epoch ms. It uses
`requests` when it is installed and httpx (the same calls here) when it is not;
benchmarks/bench.py says which it ran.
Usage: python benchmarks/dictwriter.py API_URL TOKEN OUTFILE
"""

import csv
import sys

try:
    import requests as http

    session = http.Session()
except ImportError:
    import httpx as http

    session = http.Client()

FIELDS = ["id", "type", "count", "conversationId", "messageId", "taskId", "contactId"]
FIELDS += ["blueprintId", "botId", "datasetId", "skillsetId", "abilityId", "name"]
FIELDS += ["description", "meta", "createdAt", "updatedAt"]

api_url, token, target = sys.argv[1:4]
session.headers["Authorization"] = f"Bearer {token}"
with open(target, "w", newline="") as out:
    writer = csv.DictWriter(out, FIELDS, extrasaction="ignore")
    writer.writeheader()
    params = {"take": 100}
    while True:
        page = session.get(f"{api_url}/api/v1/usage/list", params=params).json()
        writer.writerows(page["items"])
        if not page["items"] or not page.get("cursor"):
            break
        params["cursor"] = page["cursor"]
