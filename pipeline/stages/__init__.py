"""The stage contract (``base``) and the stages: ``probe``, ``detect``, ``frames`` (frame
signatures) and ``align`` (per video, with work folders: ``workdir``), and the ``video`` pass
that drives them over one decode. Curation stages live in ``pipeline/curate``."""
