"""The responsible-data policy (params.yaml ``policy``): what a corpus entry must carry to enter the dataset.

:class:`PolicyOptions` is the params section (``pipeline/config/`` lists it with the
others; its fields become flags); :meth:`PolicyOptions.violation` names the first rule an entry's corpus fields break, or
None. Ingestion turns a violation into a ``videos.parquet`` row with status
``excluded`` and the reason (none of its frames decoded); ``facecorpus release``
checks the released faces' fields against the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.params import option


@dataclass(frozen=True)
class PolicyOptions:
    """params.yaml ``policy``: what a video must carry to enter the dataset (ingestion excludes the
    rest, decoding none of their frames; ``facecorpus release`` refuses a face that lacks it), and
    the erasure log (``facecorpus forget``). Folder corpora carry licence, consent and source in a
    ``facecorpus.yaml`` sidecar (``pipeline/corpus/load.py``) or in a corpus manifest. A list
    option is a bare ``tuple`` of text (``pipeline/config/:coerce``)."""

    require_consent: bool = option(False, "a video needs a consent value (and one of allowed_consent when that is set)")
    allowed_consent: tuple = option((), "consent values accepted (YAML list or comma-separated); empty: any non-empty value")
    require_license: bool = option(False, "a video needs a licence (and one of allowed_licenses when that is set)")
    allowed_licenses: tuple = option((), "licence values accepted (YAML list or comma-separated); empty: any non-empty value")
    require_source: bool = option(False, "a video needs a source (where it came from)")
    erasures: str | None = option(None, "the append-only erasure log (git-tracked Parquet): forget writes it; ingestion denies it")

    @property
    def active(self) -> bool:
        return self.require_consent or self.require_license or bool(self.allowed_consent or self.allowed_licenses) or self.require_source

    def violation(self, fields: Mapping[str, str | None]) -> str | None:
        """The first rule ``fields`` (license, consent, source) breaks, in words; None when none."""
        consent, licence, source = (_value(fields.get(k)) for k in ("consent", "license", "source"))
        if self.require_consent and consent is None:
            return "no consent recorded (policy.require_consent)"
        if consent is not None and self.allowed_consent and consent not in self.allowed_consent:
            return f"consent {consent!r} is not allowed (policy.allowed_consent: {', '.join(self.allowed_consent)})"
        if self.require_license and licence is None:
            return "no licence recorded (policy.require_license)"
        if licence is not None and self.allowed_licenses and licence not in self.allowed_licenses:
            return f"licence {licence!r} is not allowed (policy.allowed_licenses: {', '.join(self.allowed_licenses)})"
        if self.require_source and source is None:
            return "no source recorded (policy.require_source)"
        return None

    def describe(self) -> dict:
        return {
            "require_consent": self.require_consent,
            "allowed_consent": list(self.allowed_consent),
            "require_license": self.require_license,
            "allowed_licenses": list(self.allowed_licenses),
            "require_source": self.require_source,
        }


def _value(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
