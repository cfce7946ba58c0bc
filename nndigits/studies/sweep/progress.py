"""How far a sweep is: a live bar on a terminal, one line per finished task in a pipe or log file.

A bar redraws itself with carriage returns, which is what a terminal wants and what makes a log file
unreadable (hundreds of ``\\r`` updates); so the bar appears only when stderr is a terminal, and
elsewhere each finished task is one line.
"""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, done: int, tasks: int, enabled: bool = True, stream=None):
        """``total`` networks in the grid, ``done`` of them already in the results folder, ``tasks`` to run."""
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.tasks, self.finished_tasks = total, done, tasks, 0
        self.running = self.retries = 0
        self.bar = None
        self.lines = enabled and not self._tty()
        if enabled and self._tty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                unit="net",
                desc="networks",
                file=self.stream,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} networks [{elapsed}<{remaining}]{postfix}",
            )

    def _tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def partial(self, networks_in_flight: float) -> None:
        """Fractions of networks trained by tasks still running (the bar only)."""
        if self.bar is not None:
            self.bar.n = self.done + networks_in_flight
            self.bar.refresh()

    def status(self, running: int, retries: int) -> None:
        self.running, self.retries = running, retries
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=True)

    def _postfix(self) -> str:
        return f"tasks {self.finished_tasks}/{self.tasks} done, {self.running} running, {self.retries} retried"

    def finished(self, result: dict) -> None:
        self.done += len(result["networks"])
        self.finished_tasks += 1
        best = max(max(r["test_correct"]) / r["test_size"] for r in result["networks"]) * 100
        if self.bar is not None:
            self.bar.n = self.done
            self.bar.set_postfix_str(self._postfix(), refresh=True)
        elif self.lines:
            r0 = result["networks"][0]
            print(
                f"task {self.finished_tasks}/{self.tasks} done: {len(result['networks'])} networks "
                f"{r0['sizes']} m={r0['batch_size']} in {result['seconds']:.1f} s on {result['host']} "
                f"(best test {best:.2f}%); {self.done}/{self.total} networks, {self.retries} retries",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
