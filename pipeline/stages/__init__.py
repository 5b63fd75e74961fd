"""Per-video stages with their own work folders, fingerprints and completion markers.

``detect`` (sampling + detection) and ``align`` (crops) are separate stages: a
changed alignment parameter reruns ``align`` only, from the stored detections.
"""
