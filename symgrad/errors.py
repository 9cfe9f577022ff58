"""Errors symgrad reports to users: each carries PATH:LINE:COL and, where it helps, a hint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int
    col: int
    message: str
    hint: str = ""

    def format(self) -> str:
        text = f"{self.path}:{self.line}:{self.col}: error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SymgradError(Exception):
    """Bad or unsupported input. Holds one diagnostic per problem found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


class InternalError(Exception):
    """A bug in symgrad itself, never the user's fault."""
