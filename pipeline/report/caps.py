"""The report's fixed caps: with ``report.sheet_faces`` and ``report.video_pages`` (params.yaml)
they bound the report's work and size whatever the dataset's size, so a 1,000,000-face
dataset reports in about the time of a small one (bench/report_1m.py, bench/RESULTS.md).

Thumbnails are drawn into one JPEG mosaic per contact sheet (one file and one image
request per sheet instead of one per crop): a 48-crop sheet at 64 px is 10-25 kB.
"""

from __future__ import annotations

THUMB_PX = 64  # a crop's thumbnail side in the contact sheets
SHEET_COLUMNS = 12  # thumbnails per sheet row
STRIP_FRAMES = 6  # sampled frames drawn per video page (frames with faces, spread over the video)
STRIP_PX = 480  # width of a drawn frame
TRACKS_PER_PAGE = 24  # track rows on a video page (most faces first)
FACES_PER_TRACK = 10  # crops per track row, spread over the track
IDENTITIES = 40  # identity sheets (most faces first), when faces carry identity_id
TABLE_ROWS = 300  # face rows listed on a video page
VIDEOS_LISTED = 2000  # videos listed in the index's table (the rest counted)
EXAMPLE_ROWS = 10  # offending rows shown per failed check
JPEG_QUALITY = 82
