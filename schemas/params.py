"""The metadata of a params.yaml field, defined once for every options section (the config's
sections in ``pipeline/config/``, and those defined below it: ``policy``, ``card``, the
embedder's, the contract limits): the default, the help its flag shows, its choices, and
whether it is required. ``pipeline/cli/options.py`` makes the flags from it."""

from __future__ import annotations

from dataclasses import field
from typing import Any


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None, required: bool = False) -> Any:
    """A field of a params section: its default and the help its flag shows.
    ``required``: no default; give it as a flag or in params.yaml."""
    return field(default=default, metadata={"help": help, "choices": choices, "required": required})
