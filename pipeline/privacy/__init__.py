"""Responsible data after ingestion: erasure (``forget``), its proof (``audit``), housekeeping (``gc``)."""
