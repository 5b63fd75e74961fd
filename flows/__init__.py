"""Prefect flows: thin wrappers over ``pipeline`` (which never imports prefect)."""
