"""Command-line flags made from the config's fields, and the one ``--params`` merge.

A command lists the params.yaml keys it takes (``Flag("extract", "sample")``); each
becomes ``--sample`` with the field's type, help and default (``pipeline/config/``:
the default shown is the default used), or a positional argument. Parsing merges,
for every command alike: the defaults, then the ``--params`` file (every section
and key checked), then the flags given. A required key that is still unset is an
error naming the flag and the params key.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.config import SECTIONS, Options, field_types, load_params

FORMATTER = argparse.RawDescriptionHelpFormatter
_SEP = "."
POLICY_EPILOG = """\
licence, consent and source (checked by the policy options above):
  a corpus manifest (.csv/.jsonl/.parquet) holds them as columns next to uri; a folder
  corpus takes them from a facecorpus.yaml sidecar in any of its folders: `defaults:`
  apply to that folder and below (the nearest sidecar wins), `files:` to single files:

    # data/corpus/facecorpus.yaml
    defaults: {license: CC-BY-4.0, consent: given, source: "studio shoot 2024-05"}
    files:
      interview_07.mp4: {consent: withdrawn, subject: s07}

  A video that breaks the policy gets a videos.parquet row with status excluded and the
  reason; none of its frames is decoded."""


@dataclass(frozen=True)
class Flag:
    """One params key a command takes: ``section.name``, as ``--name`` or a positional argument."""

    section: str
    name: str
    positional: bool = False

    @property
    def key(self) -> str:
        return f"{self.section}{_SEP}{self.name}"

    @property
    def cli(self) -> str:
        return self.name.upper() if self.positional else "--" + self.name.replace("_", "-")


def section_flags(section: str, *names: str, exclude: Sequence[str] = ()) -> list[Flag]:
    """Flags for ``names`` of ``section`` (all its fields when none are named)."""
    chosen = names or tuple(f.name for f in fields(SECTIONS[section]))
    return [Flag(section, name) for name in chosen if name not in exclude]


def add_params_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag]) -> None:
    """``--params`` and one argument per flag; the parsed namespace holds only what was given."""
    parser.add_argument(
        "--params",
        type=Path,
        default=None,
        help="params.yaml whose keys set these options (flags win); every key is checked (default: none)",
    )
    for flag in flags:
        kind = SECTIONS[flag.section]
        spec = next(f for f in fields(kind) if f.name == flag.name)
        value_type = field_types(kind)[flag.name]
        meta = spec.metadata
        default = "unset" if spec.default is None else spec.default
        note = "required: give it here or in the params file" if meta.get("required") else f"default: {default}"
        kwargs: dict = {"help": f"{meta.get('help', '')} ({note}) [params: {flag.key}]", "default": argparse.SUPPRESS, "dest": flag.key}
        if value_type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = str if value_type is tuple else value_type  # a list: comma-separated text
            kwargs["metavar"] = flag.name.upper()
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
        if flag.positional:
            kwargs.pop("dest")
            parser.add_argument(flag.key, nargs="?", **kwargs)
        else:
            parser.add_argument(flag.cli, **kwargs)
    if any(flag.section == "policy" for flag in flags):
        parser.epilog = POLICY_EPILOG
    parser.set_defaults(params_flags=tuple(flags))


def options_from(args: argparse.Namespace) -> Options:
    """Defaults <- the --params file <- the flags given; required keys checked."""
    options = load_params(getattr(args, "params", None))
    given: dict[str, dict] = {}
    for key, value in vars(args).items():
        if _SEP in key:
            section, name = key.split(_SEP, 1)
            given.setdefault(section, {})[name] = value
    options = options.merged(given)
    for flag in getattr(args, "params_flags", ()):
        spec = next(f for f in fields(SECTIONS[flag.section]) if f.name == flag.name)
        if spec.metadata.get("required") and getattr(getattr(options, flag.section), flag.name) in (None, ""):
            raise ValueError(f"{args.command} needs {flag.cli} (or {flag.key} in the --params file)")
    for section in sorted({flag.section for flag in getattr(args, "params_flags", ())}):
        check = getattr(getattr(options, section), "check", None)
        if check is not None:
            check()
    return options
