"""CPU seconds of a process of the stack under measure, read from Linux's /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path


class CpuClock:
    """CPU seconds used by a process and its children (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._tick = os.sysconf("SC_CLK_TCK")

    def _pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self._pid}/task/{self._pid}/children").read_text().split()
        except OSError:
            children = []
        return [self._pid, *map(int, children)]

    def seconds(self) -> float:
        total = 0
        for pid in self._pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / self._tick


class Clocks:
    """CPU seconds of the processes taking part, by name; ``own`` names this process
    (the benchmark's, which also runs what it measures in process, such as a worker)."""

    def __init__(self, pids: dict[str, int], own: str) -> None:
        self._clocks = {name: CpuClock(pid) for name, pid in pids.items()}
        self._own = own

    def read(self) -> dict[str, float]:
        return {self._own: time.process_time()} | {
            name: clock.seconds() for name, clock in self._clocks.items()
        }

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {name: round(after[name] - before[name], 1) for name in before}
