"""Progress of a conformance run on a terminal: one line on stderr, rewritten in place (only when
stderr is a terminal: a pipe or a log file gets nothing)."""

from __future__ import annotations

import time
from typing import Any, TextIO

from softmax_claimcheck.conformance.results import Result

SLOW_CALL_S = 1.0  # a call running longer than this is shown, with its bound


class Progress:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.text = "loading the implementation"
        self.shown_at = 0.0

    @classmethod
    def on_terminal(cls, stream: TextIO) -> Progress | None:
        try:
            return cls(stream) if stream.isatty() else None
        except (AttributeError, ValueError):
            return None

    def cell(self, cell: tuple[str, str, str], done: int, frame: Result) -> None:
        prop, device, dtype = cell
        total = len(frame.properties) * len(frame.devices) * len(frame.dtypes)
        self.text = f"[{min(done + 1, total)}/{total}] {device}/{dtype} {prop}"
        self._show(self.text)

    def tick(self, call: tuple[str, float, float | None] | None) -> None:
        now = time.monotonic()
        if now - self.shown_at < 0.5:
            return
        line = self.text
        if call is not None and now - call[1] >= SLOW_CALL_S:
            bound = f" of its {call[2]:g} s bound" if call[2] else ""
            line += f": a call has run {now - call[1]:.0f} s{bound}"
        self._show(line)

    def _show(self, line: str) -> None:
        elapsed = time.monotonic() - self.started
        self.shown_at = time.monotonic()
        self._write(f"\r\x1b[Kconform {elapsed:5.1f} s {line}"[:200])

    def close(self) -> None:
        self._write("\r\x1b[K")

    def _write(self, text: Any) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass
