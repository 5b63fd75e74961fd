"""Validation: the data contracts (``schemas/contracts``) run with Great Expectations.

``suites`` (validate_dataset, the report), ``columns`` (each suite's checked
table), ``arrow`` (Arrow helpers for computed columns), ``files`` (crop file
facts), ``gx`` (partitioned GX runs), ``merge`` (per-partition results merged),
``reuse`` (the last report of an unchanged dataset), ``docs`` (Data Docs),
``shards`` (a packed release's table).
"""
