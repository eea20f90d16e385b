"""An act the system refused."""

from __future__ import annotations


class Refused(Exception):
    """An act the system refused, with its words: an answer, not a test failure."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why

    def __str__(self) -> str:
        return f"refused: {self.why}"
