"""Releases: packing crops into tar shards (``pack``), the dataset card (``card``),
validated, pushed and tagged versions (``publish``), and a loose-files export (``export``)."""
