"""The dataset report: ``facecorpus report DATASET`` writes a static HTML site that opens
from disk with no server and no network (no scripts; styles inline; images local).

``data`` (the manifests' facts: summary, funnel, drop reasons, breakdowns), ``plots``
(distributions, matplotlib to PNG), ``sheets`` (contact-sheet mosaics of crops),
``frames`` (sampled frames with boxes, landmarks and track ids drawn), ``validation``
(validation.json in plain words), ``html`` (the page parts), ``pages`` (index, videos,
video, validation pages), ``build`` (the whole report, written atomically).
Never imports prefect.
"""
