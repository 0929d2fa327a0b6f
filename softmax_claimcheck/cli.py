"""`softmax-claimcheck conform MODULE:FUNCTION [options]` (also `python -m softmax_claimcheck`).

Judges one softmax, log-softmax or attention implementation by the conformance properties and
prints a per-property table and the failing inputs; writes conformance.html and conformance.json.

Exit codes:
  0  conforms: every check passed, was not supported (undeclared dtype/device, no autograd) or
     recorded a behaviour (fully masked rows) that matches what was declared
  1  at least one property fails (including an exception or sys.exit of the implementation, and
     a required property that is not supported), or every check was not supported
  2  usage error: bad arguments, the module cannot be imported, the function cannot be called,
     an undeclared dtype raises (pass --dtypes), the report folder cannot be written
  3  the conformance runner itself crashed on a check (a defect of ours; please report it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, with where to look (argparse prints the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    main = _Parser(
        prog="softmax-claimcheck",
        description="Conformance of softmax / log-softmax / attention implementations, and the "
        "article's checks on them.",
        epilog="exit codes: 0 conforms, 1 a property fails, 2 usage error or cannot load, "
        "3 internal error of the runner",
    )
    sub = main.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "check",
        add_help=False,
        help="run the article's checks (shipped with the package) on --impl MODULE:FUNCTION; "
        "pytest options may follow (softmax_claimcheck/article_checks.py)",
    )
    conform = sub.add_parser(
        "conform",
        help="judge one implementation, property by property",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    conform.add_argument("target", metavar="MODULE:FUNCTION", help="e.g. scipy.special:softmax")
    conform.add_argument(
        "--kind", default="auto", choices=("auto", "softmax", "log-softmax", "attention")
    )
    conform.add_argument(
        "--dtypes", help="comma-separated dtypes it supports (default: all the backend has)"
    )
    conform.add_argument("--devices", help="comma-separated devices (default: cpu)")
    conform.add_argument(
        "--fully-masked",
        choices=("nan", "zeros", "uniform"),
        help="what it promises for a fully masked row; without it the behaviour is only recorded",
    )
    conform.add_argument("--backend", choices=("numpy", "torch"), help="skip the probe")
    conform.add_argument(
        "--property", action="append", metavar="ID", help="check only this property (repeatable)"
    )
    conform.add_argument(
        "--require",
        action="append",
        metavar="ID",
        help="this property must hold: 'not supported' (no autograd graph, no attn_mask, no "
        "axis keyword) fails it (repeatable)",
    )
    conform.add_argument(
        "--out", default="conformance-report", help="directory for conformance.html/.json"
    )
    conform.add_argument("--no-files", action="store_true", help="write no files")
    conform.add_argument("-q", "--quiet", action="store_true", help="print the summary only")
    return main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check"]:  # every other argument is pytest's
        from softmax_claimcheck import article_checks

        return article_checks.main(argv[1:])
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    from softmax_claimcheck.conformance import UsageError, check
    from softmax_claimcheck.conformance import page as render
    from softmax_claimcheck.impl.loading import described

    try:
        if not args.no_files:
            _writable(Path(args.out))
        result = check(
            args.target,
            kind=args.kind,
            dtypes=args.dtypes,
            devices=args.devices,
            fully_masked=args.fully_masked,
            backend=args.backend,
            properties=args.property,
            require=args.require,
        )
    except UsageError as exc:
        print(f"softmax-claimcheck conform: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = sys.stdout
    if not args.quiet:
        print(f"{result.implementation}: {described(result.convention)}", file=out)
        print(render.table(result), file=out)
        for check_result in result.failures:
            print(
                f"\n{check_result.outcome.upper()}: {check_result.property} "
                f"[{check_result.case}]: {check_result.message}",
                file=out,
            )
            if check_result.exception:
                print(f"  exception: {check_result.exception.strip()}", file=out)
            if check_result.inputs:
                print(f"  input: {check_result.inputs[:800]}", file=out)
        reasons = render.not_supported(result)
        if reasons:
            print("\nnot supported, and why:", file=out)
            print("\n".join(f"  {line}" for line in reasons), file=out)
        warned = sorted({w for c in result.checks for w in c.warnings})
        if warned:
            print("\nthe implementation warned (recorded, not an error): " + "; ".join(warned[:5]))
    if not args.no_files:
        page, data = render.write(result, Path(args.out))
        print(f"\nwrote {page} and {data}", file=out)
    print(result.summary(), file=out)
    if result.errors:
        return EXIT_INTERNAL
    return EXIT_OK if result.ok else EXIT_FAIL


def _writable(out: Path) -> None:
    """The report folder can be written, checked before anything runs (a UsageError if not)."""
    from softmax_claimcheck.conformance import UsageError

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: pass --out DIR, or --no-files")
    try:
        out.mkdir(parents=True, exist_ok=True)
        trial = out / ".softmax-claimcheck-write-test"
        trial.write_text("", encoding="utf-8")
        trial.unlink()
    except OSError as exc:
        raise UsageError(
            f"cannot write the report to {out}/ ({exc.strerror or exc}): pass --out DIR to a "
            "writable folder, or --no-files"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
