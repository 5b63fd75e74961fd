"""Old releases' HTML reports in the DVC cache and remote show faces: contact sheets and frame
views are JPEG mosaics of crops and frames (pipeline/report/sheets.py, frames.py), and pages list
face rows. A release folder is cached whole, report included, so an erasure must reach them.

``report_objects`` names the objects that show an erased face: each page naming an erased id,
and each image whose image map (one area per face, pipeline/report/html.py) names one. The
other report files stay: objects are shared between releases by content, and one that shows
no erased face may still serve a release. (The working tree's reports are removed whole by
``scrub``, for the pack stage or ``facecorpus report`` to redo.)"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterable

from pipeline.config import REPORT_DIR
from pipeline.privacy.dvcstore import DvcStore

# An image with its map, as pipeline/report/html.py writes them: <img src=.. usemap="#m"><map name="m">areas</map>.
IMAGE_MAP = re.compile(r'<img src="(?P<src>[^"]+)"[^>]*?usemap="#(?P<map>[^"]+)"[^>]*><map name="(?P=map)">(?P<areas>.*?)</map>', re.S)


def report_objects(store: DvcStore, out: str, ids: frozenset[str]) -> dict[str, str]:
    """{md5: "<rev>:<path>"} of every old release's report file that shows or names an erased id."""
    doomed: dict[str, str] = {}
    if not ids:
        return doomed
    for release in store.releases(out):
        for name, md5 in sorted(release.files.items()):
            if not (name.startswith(f"{REPORT_DIR}/") and name.endswith(".html")) or md5 in doomed:
                continue
            data = store.read(md5)
            text = data.decode("utf-8", "replace") if data is not None else ""
            if not _names(text, ids):
                continue
            doomed[md5] = f"{release.rev}:{name}"
            for path in _images_showing(text, name, ids):
                if path in release.files:
                    doomed.setdefault(release.files[path], f"{release.rev}:{path}")
    return doomed


def _images_showing(page: str, page_path: str, ids: frozenset[str]) -> Iterable[str]:
    """The release-relative paths of the page's images whose map areas name an erased id."""
    for match in IMAGE_MAP.finditer(page):
        if _names(html.unescape(match["areas"]), ids):
            yield posixpath.normpath(posixpath.join(posixpath.dirname(page_path), html.unescape(match["src"])))


def _names(text: str, ids: frozenset[str]) -> bool:
    return any(i in text for i in ids)
