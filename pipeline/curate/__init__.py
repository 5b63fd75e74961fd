"""Curation stages (tracks, quality, filters, duplicates, identities, splits): each a
:class:`~pipeline.stages.base.Stage` over the extracted faces. None has landed yet."""
