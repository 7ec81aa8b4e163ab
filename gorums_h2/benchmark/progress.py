"""A progress indicator on stderr while benchmarks run.

On a terminal one status line is redrawn a few times per second
(benchmark, phase, elapsed time, operations so far); otherwise one line is
printed per phase, so logs stay readable. :class:`NoProgress` prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import anyio
import anyio.abc

__all__ = ["NoProgress", "Progress"]


class NoProgress:
    """Progress that prints nothing."""

    def phase(self, bench: str, phase: str, duration: float, counter: object = None) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def done(self) -> None:
        pass

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        task_status.started()


class Progress(NoProgress):
    """Progress on ``stream`` (stderr by default), for ``total`` benchmarks."""

    INTERVAL = 0.2

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = total
        self.index = 0
        self._bench = ""
        self._phase = ""
        self._duration = 0.0
        self._started = time.monotonic()
        self._counter: object = None
        self._width = 0

    def phase(self, bench: str, phase: str, duration: float, counter: object = None) -> None:
        """Announce ``phase`` ("warmup", "measure") of ``bench``; ``counter``
        is any object with a ``count`` attribute (operations so far)."""
        if bench != self._bench:
            self.index += 1
        self._bench, self._phase, self._duration = bench, phase, duration
        self._counter = counter
        self._started = time.monotonic()
        if self.tty:
            self._draw()
        else:
            print(f"[{self.index}/{self.total}] {bench}: {phase} {duration:g}s",
                  file=self.stream, flush=True)

    def note(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def _line(self) -> str:
        elapsed = min(time.monotonic() - self._started, self._duration)
        count = getattr(self._counter, "count", None)
        ops = f", {count} ops" if count is not None else ""
        return (f"[{self.index}/{self.total}] {self._bench}: {self._phase} "
                f"{elapsed:4.1f}/{self._duration:g}s{ops}")

    def _draw(self) -> None:
        line = self._line()
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def _clear(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def done(self) -> None:
        self._clear()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
                  ) -> None:
        """Redraw the status line until cancelled (terminals only)."""
        task_status.started()
        if not self.tty:
            return
        while True:
            await anyio.sleep(self.INTERVAL)
            if self._bench:
                self._draw()
