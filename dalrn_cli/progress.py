"""A one-line progress bar on stderr for long work (index builds, embeddings)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, label: str, *, width: int = 30, stream=sys.stderr) -> None:
        self.label, self.width, self.stream = label, width, stream
        self._started = time.perf_counter()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        now = time.perf_counter()
        if fraction < 1.0 and now - self._last < 0.2:
            return
        self._last = now
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {now - self._started:5.1f}s")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()
