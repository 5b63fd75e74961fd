"""Alignment: 5-point templates and affines (``presets``), and the crops they give (``crops``)."""
