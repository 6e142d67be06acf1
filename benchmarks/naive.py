"""The naive monitor the benchmark compares with: every watched record fetched whole, one
request each (`GET /studies/{id}`), as a monitor without batching or incremental reads would.

Usage: python benchmarks/naive.py BASE_URL IDS_FILE   (prints one JSON line of figures)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx


def main() -> None:
    base_url, ids_file = sys.argv[1], Path(sys.argv[2])
    ids = ids_file.read_text().split()
    started = time.perf_counter()
    received = 0
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for nct_id in ids:
            response = http.get(f"/studies/{nct_id}")
            response.raise_for_status()
            received += len(response.content)
            response.json()  # a monitor would at least read what it fetched
    seconds = time.perf_counter() - started
    print(json.dumps({"requests": len(ids), "bytes": received, "seconds": seconds}))


if __name__ == "__main__":
    main()
