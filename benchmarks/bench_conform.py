"""How long does `softmax-claimcheck conform` take per function? A benchmark, not a timed test.

Runs the command, as a user would (the console script of an installed package, from an empty
folder, `--no-files -q`), on every function of a catalogue: the controls that need no checkout
(SciPy, torch.softmax, torch.log_softmax, SDPA) and the broken catalogue shipped in
`softmax_claimcheck.impl.broken`, each with the kind its test names. With two commands (say the
main branch's and this one's, each in its own fresh venv) it runs them back to back on each
function, alternating which goes first, so both see the same load; it prints the median seconds
per function of each and the load (`uptime`) before and after. Goal: a median of at most 3 s,
and at most 1 s above the other command's on the same catalogue.

    python benchmarks/bench_conform.py OLD_VENV/bin/softmax-claimcheck [NEW_VENV/bin/...]
        [--json out.json] [--warm]

--warm runs each command once first (the one-off costs: the first import's compiled files, the
oracle's first call), so only the per-function cost is timed. The catalogue is read from the
first command's own package, so both commands run the same functions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTROLS = [
    ("scipy.special:softmax", "softmax"),
    ("torch:softmax", "softmax"),
    ("torch:log_softmax", "log-softmax"),
    ("torch.nn.functional:scaled_dot_product_attention", "attention"),
]
LIST_BROKEN = """
from softmax_claimcheck.impl import broken as b
groups = [
    ("softmax", getattr(b, "CONFORMANCE_SOFTMAXES", ()) + getattr(b, "SOFTMAXES", ())),
    ("log-softmax", getattr(b, "CONFORMANCE_LOG_SOFTMAXES", ())),
    ("attention", getattr(b, "SDPA_ATTENTIONS", ())),
]
for kind, fns in groups:
    for f in fns:
        print(kind, f.__name__)
"""


def catalogue(command: Path) -> list[tuple[str, str]]:
    python = command.parent / "python"
    listed = subprocess.run(
        [str(python), "-c", LIST_BROKEN], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    broken = [
        (f"softmax_claimcheck.impl.broken:{name}", kind)
        for kind, name in (line.split() for line in listed if line.strip())
    ]
    return CONTROLS + broken


def once(command: Path, target: str, kind: str, folder: str) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(
        [str(command), "conform", target, "--kind", kind, "--no-files", "-q"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, done.returncode


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commands", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--warm", action="store_true")
    args = parser.parse_args(argv)
    functions = catalogue(args.commands[0])
    times: dict[str, list[float]] = {str(c): [] for c in args.commands}
    codes: dict[str, dict[str, int]] = {str(c): {} for c in args.commands}
    load_before = uptime()
    with tempfile.TemporaryDirectory() as folder:
        if args.warm:
            for command in args.commands:
                once(command, "torch:softmax", "softmax", folder)
        for i, (target, kind) in enumerate(functions):
            order = args.commands if i % 2 == 0 else args.commands[::-1]
            for command in order:
                seconds, code = once(command, target, kind, folder)
                times[str(command)].append(seconds)
                codes[str(command)][target] = code
            print(
                f"{target:70s} " + " ".join(f"{times[str(c)][-1]:6.2f}s" for c in args.commands),
                flush=True,
            )
    load_after = uptime()
    summary = {
        "functions": len(functions),
        "load_before": load_before,
        "load_after": load_after,
        "median_s": {c: round(statistics.median(t), 2) for c, t in times.items()},
        "exit_codes": codes,
    }
    print(f"{len(functions)} functions; before: {load_before}; after: {load_after}")
    for command, median in summary["median_s"].items():
        print(f"median {median:.2f} s per function: {command}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
