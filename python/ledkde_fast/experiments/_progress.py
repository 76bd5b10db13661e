"""Progress of the experiments: one line per phase on stderr, and a bar (or lines) for the loops."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sized
from typing import Optional, TextIO


class Progress:
    """Report the phases of an experiment on stderr; silent when disabled.

    Every phase prints one line ``<name> [12 s]: <phase>...`` (the elapsed time since the start), so a
    run that goes quiet for a minute says what it is doing. Loops show a tqdm bar where tqdm is
    installed, else one line per step (tqdm is optional: the lines need nothing).

    Parameters
    ----------
    enabled : bool
        False prints nothing.
    name : str
        Prefix of the lines (the experiment's name).
    stream : file-like, optional
        Where to write; default ``sys.stderr`` (looked up at each write, so redirection works).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> p = Progress(True, "demo", stream=buf)
    >>> p.phase("theory check")
    >>> [i for i in p.steps(range(2), "sweep", bar=False)]
    [0, 1]
    >>> print(buf.getvalue(), end="")
    demo [0 s]: theory check...
    demo [0 s]: sweep 1/2...
    demo [0 s]: sweep 2/2...
    """

    def __init__(self, enabled: bool, name: str, stream: Optional[TextIO] = None) -> None:
        self.enabled = bool(enabled)
        self.name = name
        self._stream = stream
        self._start = time.perf_counter()

    def _write(self, text: str) -> None:
        stream = sys.stderr if self._stream is None else self._stream
        elapsed = time.perf_counter() - self._start
        print(f"{self.name} [{elapsed:.0f} s]: {text}", file=stream, flush=True)

    def phase(self, text: str) -> None:
        """Announce a phase (one line, when enabled).

        Parameters
        ----------
        text : str
            What the experiment starts doing; ``...`` is appended.
        """
        if self.enabled:
            self._write(f"{text}...")

    def done(self) -> None:
        """Announce the end of the run (one line, when enabled)."""
        if self.enabled:
            self._write("done")

    def steps(self, items: Iterable[int], desc: str, *, bar: bool = True) -> Iterator[int]:
        """Iterate over ``items`` showing the progress of the loop.

        Parameters
        ----------
        items : iterable of int
            The loop's items (a sized iterable shows ``i/n``).
        desc : str
            What the loop does.
        bar : bool
            Use a tqdm bar where tqdm is installed; False (or no tqdm) prints a line per step.

        Yields
        ------
        int
            The items, in order.
        """
        if not self.enabled:
            yield from items
            return
        if bar:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                yield from tqdm(items, desc=f"{self.name}: {desc}", file=self._stream or sys.stderr)
                return
        total = len(items) if isinstance(items, Sized) else None
        for i, item in enumerate(items):
            self._write(f"{desc} {i + 1}/{total}..." if total is not None else f"{desc} {i + 1}...")
            yield item
