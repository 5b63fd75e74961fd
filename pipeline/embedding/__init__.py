"""Face embedders: a crop of a face in, a fixed-length identity vector out (``base``, ``registry``)."""
