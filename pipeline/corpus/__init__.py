"""The corpus: what inputs there are (``load``), keyed by content (``snapshot``), cut into
shards of the work left (``plan``); and the bundled sample corpus (``sample``)."""
