"""The report's HTML parts: one page frame with its style inline (no scripts, no fonts but the
system's, nothing fetched), tables, figures, and contact sheets as one image with an image map
whose areas link each thumbnail to its face row. Every text is escaped here."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from html import escape

from pipeline.report.frames import DrawnFrame
from pipeline.report.sheets import Sheet

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;color:#222}
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:8px 0;font-size:14px;z-index:1}
nav a{margin-right:14px}
h1{font-size:24px}h2{font-size:19px;margin-top:28px;border-bottom:1px solid #eee}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:6px 0;display:block;overflow-x:auto;max-width:100%}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}figcaption{font-size:11px;color:#666;max-width:384px}
.ok{color:#2b8a3e}.bad{color:#c92a2a}.warn{color:#e8590c}.muted{color:#777;font-size:12px}
.sheet img,.strip img{display:block;border:1px solid #ccc;image-rendering:auto}
.strip{display:flex;flex-wrap:wrap;gap:8px}
code{font-size:12px;word-break:break-all}
"""


def page(title: str, body: str, root: str | None) -> str:
    """A whole page; ``root`` is the relative path from the page to the report folder ("" or "../"),
    None for a page on its own (no links to the report's other pages)."""
    links = (("index.html", "overview"), ("videos.html", "videos"), ("validation.html", "validation"))
    nav = "".join(f'<a href="{root}{href}">{label}</a>' for href, label in links) if root is not None else "facecorpus"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
        f"<body><nav>{nav}</nav><h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], raw_columns: Sequence[int] = ()) -> str:
    """A table; cells are escaped except in ``raw_columns`` (already HTML)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v, i in raw_columns) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object, raw: bool) -> str:
    if raw:
        return f"<td>{value}</td>"
    if isinstance(value, bool):
        return f"<td>{value}</td>"
    if isinstance(value, int):
        return f'<td class="n">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="n">{value:.4g}</td>'
    return f"<td>{escape('' if value is None else str(value))}</td>"


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def figure(src: str, alt: str, caption: str, width: int | None = None, height: int | None = None) -> str:
    size = f' width="{width}" height="{height}"' if width and height else ""
    return f'<figure><img src="{escape(src)}" alt="{escape(alt)}"{size}><figcaption>{escape(caption)}</figcaption></figure>'


def sheet(s: Sheet | None, root: str, href_of, empty: str = "no crops") -> str:
    """A contact sheet: the mosaic plus an image map; ``href_of(cell)`` is each thumbnail's link."""
    if s is None:
        return f'<p class="muted">{escape(empty)}</p>'
    name = os.path.splitext(os.path.basename(s.file))[0]
    areas = "".join(
        f'<area shape="rect" coords="{c.x},{c.y},{c.x + s.thumb_px},{c.y + s.thumb_px}" href="{escape(href_of(c))}" '
        f'title="{escape(c.title)}" alt="{escape(c.face_id)}">'
        for c in s.cells
    )
    return (
        f'<div class="sheet"><img src="{escape(root + s.file)}" width="{s.width}" height="{s.height}" usemap="#m-{escape(name)}" '
        f'alt="contact sheet of {len(s.cells)} crops"><map name="m-{escape(name)}">{areas}</map></div>'
    )


def strip(frames: Sequence[DrawnFrame], root: str) -> str:
    """The drawn frames, each box linked to its face row on the same page."""
    parts = []
    for frame in frames:
        name = os.path.splitext(os.path.basename(frame.file))[0]
        areas = "".join(
            f'<area shape="rect" coords="{b.rect[0]},{b.rect[1]},{b.rect[2]},{b.rect[3]}" href="#f-{escape(b.face_id)}" '
            f'title="{escape(b.label)} {escape(b.face_id)}" alt="{escape(b.label)}">'
            for b in frame.boxes
        )
        note = f'<figcaption class="warn">{escape(frame.note)}</figcaption>' if frame.note else ""
        parts.append(
            f'<figure><img src="{escape(root + frame.file)}" width="{frame.width}" height="{frame.height}" usemap="#m-{escape(name)}" '
            f'alt="frame {frame.frame_index}"><map name="m-{escape(name)}">{areas}</map>'
            f"<figcaption>sampled frame {frame.frame_index}, {frame.pts_s:.3f} s, {len(frame.boxes)} faces</figcaption>{note}</figure>"
        )
    return f'<div class="strip">{"".join(parts)}</div>'
