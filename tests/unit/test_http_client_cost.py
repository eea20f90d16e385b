"""The HTTP client's per-request cost does not include a failed import.

httpcore asks which async library is running several times per request, by importing
sniffio inside the call and falling back to asyncio if that fails. Python does not cache
a failed import, so without sniffio installed each call searched sys.path again: about
1 ms of CPU per request on a 2-core machine, in every connector call the worker makes.
Syncline depends on sniffio for that reason (pyproject.toml); this test fails if the
environment loses it again.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
from typing import Any

import pytest
from httpcore._synchronization import current_async_library


def test_asking_for_the_async_library_searches_no_path(monkeypatch: pytest.MonkeyPatch) -> None:
    searches: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        searches.append(name)
        return find_spec(name, *args, **kwargs)

    async def ask() -> list[str]:
        return [current_async_library() for _ in range(10)]

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)
    assert asyncio.run(ask()) == ["asyncio"] * 10
    assert searches == []
