"""A bounded window of recent lags, and its quantiles: deterministic, workflow-safe."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

WINDOW = 1_000


class LagWindow:
    def __init__(self, size: int = WINDOW) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, values: Iterable[float]) -> None:
        self._values.extend(values)

    def quantile(self, q: float) -> float | None:
        """The nearest-rank quantile (a value that was observed), or None when empty."""
        if not self._values:
            return None
        ordered = sorted(self._values)
        rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return ordered[rank]
