"""Runs a command and reports its wall time and peak memory (maximum RSS) as one JSON line on
stderr. A small process of its own, so that the figure is the command's: a child forked from the
benchmark (which holds a registry of 100,000 studies) would be charged the parent's pages.

Usage: python benchmarks/peak.py COMMAND [ARG…]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

started = time.perf_counter()
process = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(process.pid, 0)
code = os.waitstatus_to_exitcode(status)
figures = {
    "seconds": time.perf_counter() - started,
    "peak_mb": usage.ru_maxrss / 1024,
    "exit": code,
}
print(json.dumps(figures), file=sys.stderr)
sys.exit(code)
