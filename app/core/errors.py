"""Errors a person can act on: each names the file and, where known, the item and field."""

from __future__ import annotations


class VigilError(Exception):
    """Base class for errors that are shown to a user as a message, never as a traceback."""


class ConfigError(VigilError):
    """A profile or plant file is refused. ``problems`` lists every fault found, not just the first."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        joined = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: refused ({len(problems)} problem(s))\n{joined}")
