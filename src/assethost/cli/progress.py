"""What a deploy shows while it runs: a progress bar with files and bytes during uploads and a
spinner while the server builds. Drawn with `rich` on stderr, and only on a terminal: with
--json or when output is piped, nothing is drawn.

Why rich rather than tqdm: one bar can show files *and* bytes (custom columns) next to a speed
and an ETA, the spinner and the plain-text summary tables come from the same library, and its
Progress is safe to update from the upload threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Upload(Protocol):
    def sent(self, n: int) -> None: ...
    def skipped(self, n: int) -> None: ...  # bytes the server already had: no longer to send
    def file_done(self) -> None: ...


class Reporter:
    """No output (used for --json and when stderr is not a terminal)."""

    def step(self, text: str) -> None:
        pass

    @contextlib.contextmanager
    def uploading(self, files: int, total_bytes: int) -> Iterator[Upload]:
        yield _Counter()

    @contextlib.contextmanager
    def building(self, text: str) -> Iterator[None]:
        yield


class _Counter:
    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0
        self._lock = threading.Lock()

    def sent(self, n: int) -> None:
        with self._lock:
            self.bytes += n

    def skipped(self, n: int) -> None:
        pass

    def file_done(self) -> None:
        with self._lock:
            self.files += 1


class RichReporter(Reporter):
    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, text: str) -> None:
        self.console.print(f"[dim]•[/dim] {text}", highlight=False)

    @contextlib.contextmanager
    def uploading(self, files: int, total_bytes: int) -> Iterator[Upload]:
        progress = Progress(
            TextColumn("[bold]uploading"),
            BarColumn(),
            TextColumn("{task.fields[done]}/{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        task = progress.add_task("upload", total=total_bytes, done=0, files=files)
        lock = threading.Lock()
        state = {"done": 0, "total": total_bytes}

        class _Bar:
            def sent(self, n: int) -> None:
                progress.update(task, advance=n)

            def skipped(self, n: int) -> None:
                with lock:
                    state["total"] -= n
                    progress.update(task, total=state["total"])

            def file_done(self) -> None:
                with lock:
                    state["done"] += 1
                    progress.update(task, done=state["done"])

        with progress:
            yield _Bar()

    @contextlib.contextmanager
    def building(self, text: str) -> Iterator[None]:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            progress.add_task(text, total=None)
            yield


def reporter_for(quiet: bool) -> Reporter:
    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return Reporter()
    return RichReporter(console)
