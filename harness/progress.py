"""The run's one live display: every job on a bar, each running job with its own clock, notes above it.

Why its own module: the grid has jobs of very different cost (a diffusion fit takes minutes, a
copy-paste set seconds), run side by side on Ray or one after another locally, and a user must
see, on every executor, that something is happening. So

* the bar counts every job that exists: generator fits and detector cells (``fits 1/2 · cells 3/12``);
* a refresh thread redraws it every `refresh_s` seconds, so the clock and the running jobs' own
  clocks move while nothing finishes (a plain tqdm only redraws on ``update``);
* notes (``fitting dhdiff …``, ``training frozen-seg …``) are printed above the bar with the run's
  elapsed time as they happen; Ray workers send theirs through the executor
  (`harness.executors.ray_executor`), the local executor calls `note` directly;
* third-party log records, warnings and stray prints go above the bar as whole lines, never
  glued to it.

No remaining-time estimate is shown: jobs differ 100-fold in cost, and a rate taken from the
first finished cells (cheap ones, by design) claimed 2 h 19 min where 5 min 30 s was left.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, TextIO

from tqdm.auto import tqdm

#: the longest a running job's clock may stand still on screen
REFRESH_S = 2.0


def clock(seconds: float) -> str:
    """``1:05`` / ``1:02:03``: how tqdm shows time, for the lines it does not draw."""
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class _Running:
    label: str
    since: float
    note: str = ""


class GridProgress:
    """Counts fits and cells, shows what runs now; `write` is the only way text reaches the terminal."""

    def __init__(self, n_fits: int, n_cells: int, *, enabled: bool = True, echo: Callable[[str], None] = print,
                 refresh_s: float = REFRESH_S, stream: TextIO | None = None,
                 now: Callable[[], float] = time.monotonic):
        self.n_fits, self.n_cells = n_fits, n_cells
        self.fits_done = self.cells_done = 0
        self.enabled = enabled
        self._echo = echo
        self._refresh_s = refresh_s
        self._stream = stream
        self._now = now
        self._t0 = now()
        self._running: dict[str, _Running] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._bar: tqdm | None = None
        self._thread: threading.Thread | None = None
        self._exit = contextlib.ExitStack()
        self._lines: TextIO = sys.stdout

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> "GridProgress":
        self._t0 = self._now()  # notes are stamped with the clock the bar shows
        if not self.enabled:
            return self
        out = self._stream or sys.stderr
        self._lines = self._stream or sys.stdout  # lines stay on stdout (`bench run > log` keeps them)
        # console log handlers are found by their stream, so before the streams are swapped
        self._exit.enter_context(_logging_above(self))
        # prints from anywhere (Ray's log monitor, a plug-in) become lines above the bar
        self._exit.enter_context(_streams_above(self))
        self._exit.enter_context(_warnings_above(self))
        self._bar = tqdm(total=self.n_fits + self.n_cells, file=out, dynamic_ncols=True, mininterval=0.5,
                         bar_format="{desc} [{elapsed}]{postfix}")
        self._redraw()
        self._thread = threading.Thread(target=self._tick, name="grid-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            if self._bar is not None:
                self._redraw()
                self._bar.close()
                self._bar = None
        self._exit.close()

    def _tick(self) -> None:
        while not self._stop.wait(self._refresh_s):
            with self._lock:
                if self._bar is not None:
                    self._redraw()

    # -- what the driver tells it ----------------------------------------------------------
    def write(self, msg: str) -> None:
        """A line above the bar (or through `echo` when the bar is off)."""
        with self._lock:
            if self._bar is not None:
                # not tqdm.write: it clears only bars it finds on sys.stdout/sys.stderr, which are
                # ours while the bar is up, so the line would land glued to the bar's text
                self._bar.clear()
                self._lines.write(msg + "\n")
                self._lines.flush()
                self._redraw()
            else:
                self._echo(msg)

    def started(self, job_id: str, label: str) -> None:
        with self._lock:
            self._running.setdefault(job_id, _Running(label, self._now()))
            self._redraw()

    def note(self, job_id: str, msg: str) -> None:
        """A job's note: shown at once, stamped with the run's elapsed time, and kept beside its clock."""
        with self._lock:
            run = self._running.get(job_id)
            if run is not None:
                run.note = msg
        self.write(f"  [{clock(self._now() - self._t0)}] {msg}")

    def finished(self, job_id: str, *, fit: bool) -> None:
        """A fit or a cell ended (well or not): counted, and its clock taken off the bar."""
        with self._lock:
            self._running.pop(job_id, None)
            if fit:
                self.fits_done += 1
            else:
                self.cells_done += 1
            if self._bar is not None:
                self._bar.update(1)
            self._redraw()

    def elapsed(self) -> float:
        return self._now() - self._t0

    # -- drawing ---------------------------------------------------------------------------
    def status(self) -> str:
        """``fits 1/2 · cells 3/12``: what the bar's text starts with."""
        parts = [f"fits {self.fits_done}/{self.n_fits}"] if self.n_fits else []
        return " · ".join([*parts, f"cells {self.cells_done}/{self.n_cells}"])

    def running(self) -> str:
        """The running jobs, longest first, each with its own clock."""
        now = self._now()
        jobs = sorted(self._running.values(), key=lambda r: r.since)
        shown = [f"{r.label} {clock(now - r.since)}" for r in jobs[:3]]
        if len(jobs) > 3:
            shown.append(f"+{len(jobs) - 3}")
        return ", ".join(shown)

    def _redraw(self) -> None:
        if self._bar is None:
            return
        self._bar.set_description_str(f"grid: {self.status()}", refresh=False)
        now_running = self.running()
        self._bar.set_postfix_str(f"running: {now_running}" if now_running else "", refresh=False)
        self._bar.refresh()


@contextlib.contextmanager
def phase(label: str, *, enabled: bool = True, refresh_s: float = REFRESH_S,
          stream: TextIO | None = None) -> Iterator[None]:
    """A step before the grid's bar (checking every data file, opening the MLflow store: 5-15 s on
    a busy box) shown as ``label [00:07]`` with a moving clock, left on screen when done."""
    if not enabled:  # no live display: a log gets no line per step (a resumed run says only that)
        yield
        return
    bar = tqdm(total=None, file=stream or sys.stderr, bar_format="{desc} [{elapsed}]", desc=label,
               dynamic_ncols=True)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(refresh_s):
            bar.refresh()

    thread = threading.Thread(target=tick, name=f"phase:{label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        bar.close()


def _loggers() -> list[logging.Logger]:
    """The root logger and Ray's (which keeps its own console handler)."""
    return [logging.getLogger(), logging.getLogger("ray")]


class _AboveBarHandler(logging.Handler):
    """A console handler's records, formatted as it would, written as lines above the bar."""

    def __init__(self, progress: GridProgress, like: logging.Handler):
        super().__init__(like.level)
        self.progress = progress
        self.setFormatter(like.formatter)
        self.filters = list(like.filters)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.progress.write(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the run
            self.handleError(record)


@contextlib.contextmanager
def _logging_above(progress: GridProgress) -> Iterator[None]:
    """Console handlers (stdout/stderr) of the root and Ray loggers swapped for `_AboveBarHandler`."""
    swapped: list[tuple[logging.Logger, logging.Handler, logging.Handler]] = []
    for logger in _loggers():
        for h in list(logger.handlers):
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stdout, sys.stderr):
                above = _AboveBarHandler(progress, h)
                logger.removeHandler(h)
                logger.addHandler(above)
                swapped.append((logger, h, above))
    try:
        yield
    finally:
        for logger, h, above in swapped:
            logger.removeHandler(above)
            logger.addHandler(h)


class _AboveBarStream:
    """sys.stdout / sys.stderr while the bar is up: whole lines go above it, the rest is delegated."""

    def __init__(self, progress: GridProgress, real: TextIO):
        self._progress, self._real, self._buf = progress, real, ""

    def write(self, text: str) -> int:
        self._buf += text
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            line = line.rsplit("\r", 1)[-1]  # a library's own "\r" redraws: keep what it last drew
            if line.strip():
                self._progress.write(line)
        return len(text)

    def flush(self) -> None:
        return None

    def __getattr__(self, name: str) -> object:  # fileno, isatty, encoding, ...
        return getattr(self._real, name)


@contextlib.contextmanager
def _streams_above(progress: GridProgress) -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _AboveBarStream(progress, saved[0]), _AboveBarStream(progress, saved[1])
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _AboveBarStream) and stream._buf.strip():
                progress.write(stream._buf)
        sys.stdout, sys.stderr = saved


@contextlib.contextmanager
def _warnings_above(progress: GridProgress) -> Iterator[None]:
    """A warning is one line above the bar, not text glued to it."""
    saved = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001 - stdlib signature
        progress.write(f"{category.__name__}: {message}")

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved
