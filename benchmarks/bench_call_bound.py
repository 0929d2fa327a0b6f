"""What the per-call time bound costs: a benchmark to run by hand, not a timed test.

Times N calls of a trivial function (it returns its argument) through the seam
(impl/calling.invoke), four ways:
  1. unbounded (what every call cost before the bound);
  2. bounded in-process (impl/time_bound.py: SIGALRM timer set and cleared around the call;
     what `--impl` and the Python API on a function object pay);
  3. bounded, with the conformance worker's heartbeat (two messages to the supervisor over a
     socket pair per call; what `softmax-claimcheck conform` pays per call);
  4. the worker's start: a fresh interpreter that imports the harness (paid once per run, and
     again after a hang or death kills the worker).

    python benchmarks/bench_call_bound.py [--calls 20000] [--repeat 5]

Prints the median microseconds per call (best of --repeat for each way) beside the load average.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from softmax_claimcheck.conformance.worker import Heartbeat
from softmax_claimcheck.impl import calling


def identity(x: object) -> object:
    return x


def per_call_us(calls: int, timeout: float | None) -> float:
    start = time.perf_counter()
    for i in range(calls):
        calling.invoke(identity, (i,), timeout=timeout)
    return (time.perf_counter() - start) / calls * 1e6


def with_heartbeat(calls: int, repeat: int) -> float:
    ours, theirs = socket.socketpair()
    reader = Connection(os.dup(theirs.fileno()))
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            try:
                reader.recv()
            except (EOFError, OSError):
                return

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    calling.set_monitor(Heartbeat(Connection(os.dup(ours.fileno()))))
    try:
        return min(per_call_us(calls, 10.0) for _ in range(repeat))
    finally:
        calling.set_monitor(None)
        done.set()
        ours.close()
        theirs.close()


def worker_start_s() -> float:
    code = "import softmax_claimcheck.conformance.worker, softmax_claimcheck.conformance.runner"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    plain = min(per_call_us(args.calls, None) for _ in range(args.repeat))
    bounded = min(per_call_us(args.calls, 10.0) for _ in range(args.repeat))
    beating = with_heartbeat(args.calls, args.repeat)
    start = statistics.median(worker_start_s() for _ in range(args.repeat))
    print(f"unbounded call through the seam:        {plain:8.1f} µs")
    print(f"bounded in-process (SIGALRM):          {bounded:8.1f} µs  (+{bounded - plain:.1f})")
    print(f"bounded + worker heartbeat (conform):  {beating:8.1f} µs  (+{beating - plain:.1f})")
    print(f"worker start (median):                 {start:8.2f} s")


if __name__ == "__main__":
    main()
