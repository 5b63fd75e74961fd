"""Curation stages, each a :class:`~pipeline.stages.base.Stage`: per video, from stored work
(``quality``: per-face scores with ``pose``; ``tracks``: faces linked into tracks, cut at
scene changes), stored in ``curation/<video_id>/``; and over the dataset (``filters``:
status and reasons; ``duplicates``: near-identical faces of a track; ``videos``:
near-duplicate videos), run each time the manifests are merged (``video``: the per-video
driver; ``dataset``: the dataset step and the tracks table); ``select``: the training view."""
