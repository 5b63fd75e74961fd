"""The stage contract (``base``) and the stages: ``probe``, ``detect`` and ``align`` (per
video, with work folders: ``workdir``), the ``video`` pass that drives them over one
decode, and ``measures``. Curation stages live in ``pipeline/curate``."""
