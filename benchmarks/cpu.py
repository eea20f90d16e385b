"""CPU seconds of a process of the stack under measure, read from Linux's /proc."""

from __future__ import annotations

import asyncio
import os
import sys
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

    async def settled(
        self, *, below: float = 0.6, window: float = 2.0, windows: int = 3, timeout: float = 300.0
    ) -> float:
        """Wait until the processes together use less than ``below`` of one core in
        ``windows`` windows of ``window`` seconds in a row; the seconds waited. Work one
        phase leaves behind (a deal's renewal and the ERP mirror runs the change feed
        starts for every new order, customer and item) keeps 1.2-1.5 cores busy for tens
        of seconds after the last order, in bursts a poll apart, and would otherwise be
        measured as the next phase's latency. An idle dev stack still uses 0.3-0.5 of a
        core (the feed polls every 2 s), hence the threshold. After ``timeout`` it warns
        and returns: the phase then runs on a busy stack, which the wait printed shows."""
        begun = time.monotonic()
        quiet = 0
        while time.monotonic() - begun < timeout:
            before = self.read()
            await asyncio.sleep(window)
            after = self.read()
            used = sum(after[n] - before[n] for n in before if n != self._own)
            quiet = quiet + 1 if used / window < below else 0
            if quiet == windows:
                break
        else:
            print(f"warning: the stack was still busy after {timeout:.0f} s", file=sys.stderr)
        return round(time.monotonic() - begun, 1)
