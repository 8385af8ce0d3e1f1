"""The journey map as a standalone SVG: stages as columns, their touchpoints as rows below them.

A cell's colour is its average emotion on a red (-2) - grey (0 or none) - green (+2) scale;
it shows interactions, customers and the pain-point rate. A stage's header shows its
customers and its conversion to the next stage. Every piece of text is XML-escaped.
"""
from __future__ import annotations

import re
from xml.sax.saxutils import escape as _escape, quoteattr as _quoteattr

from journeys.maps.analytics import CellFigures, JourneyMapReport, StageFigures

COLUMN, GAP, MARGIN = 230, 10, 20
TITLE, HEADER, CELL, LEGEND = 40, 64, 76, 70
NAME_CHARS = 30
GREY, RED, GREEN = (189, 189, 189), (215, 48, 39), (26, 152, 80)
# Characters XML 1.0 forbids even escaped; a name typed with one must not break the document.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    return _escape(_NOT_XML.sub("", text))


def quoteattr(text: str) -> str:
    return _quoteattr(_NOT_XML.sub("", text))


def emotion_colour(average: float | None) -> str:
    if average is None:
        return "#%02x%02x%02x" % GREY
    share = min(abs(average), 2.0) / 2.0
    end = RED if average < 0 else GREEN
    return "#%02x%02x%02x" % tuple(round(g + (e - g) * share) for g, e in zip(GREY, end))


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def _text(x: float, y: float, content: str, **attrs) -> str:
    extra = "".join(f" {name.replace('_', '-')}={quoteattr(str(value))}" for name, value in attrs.items())
    return f'<text x="{x:g}" y="{y:g}"{extra}>{escape(content)}</text>'


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "\u2026"


def _header(stage: StageFigures, x: float, y: float, last: bool) -> list[str]:
    if last:
        onward = "last stage"
    else:
        onward = f"to next: {_percent(stage.conversion_to_next)}"
        if stage.median_hours_to_next is not None:
            onward += f", median {stage.median_hours_to_next:.1f} h"
    return [f'<rect x="{x:g}" y="{y:g}" width="{COLUMN}" height="{HEADER}" rx="6" fill="#37474f"/>',
            _text(x + 10, y + 22, stage.stage, fill="#ffffff", font_weight="bold", font_size="15"),
            _text(x + 10, y + 40, f"{stage.customers} customers, {stage.interactions} interactions", fill="#ffffff"),
            _text(x + 10, y + 56, onward, fill="#ffffff")]


def _cell(cell: CellFigures, x: float, y: float) -> list[str]:
    tp = cell.touchpoint
    emotion = "no emotion" if cell.average_emotion is None else f"emotion {cell.average_emotion:+.2f}"
    pains = ", ".join(f"{tag} ({count})" for tag, count in cell.top_pain_points) or "none"
    tooltip = f"{tp.name} [{tp.key}, {tp.channel.value}]; top pain points: {pains}"
    return [f"<g><title>{escape(tooltip)}</title>",
            f'<rect x="{x:g}" y="{y:g}" width="{COLUMN}" height="{CELL}" rx="4" '
            f'fill="{emotion_colour(cell.average_emotion)}" stroke="#616161"/>',
            _text(x + 10, y + 18, _short(tp.name), font_weight="bold"),
            _text(x + 10, y + 34, f"{tp.channel.value}, {emotion}"),
            _text(x + 10, y + 50, f"{cell.interactions} interactions, {cell.customers} customers"),
            _text(x + 10, y + 66, f"pain points {_percent(cell.pain_point_rate)}"),
            "</g>"]


def _legend(y: float) -> list[str]:
    parts = [_text(MARGIN, y + 14, "Average emotion", font_weight="bold")]
    for index, (value, label) in enumerate(((-2, "-2"), (-1, "-1"), (0, "0"), (1, "+1"), (2, "+2"), (None, "none"))):
        x = MARGIN + index * 70
        parts += [f'<rect x="{x}" y="{y + 22:g}" width="60" height="18" fill="{emotion_colour(value)}" '
                  f'stroke="#616161"/>', _text(x + 30, y + 56, label, text_anchor="middle")]
    return parts


def render_svg(report: JourneyMapReport) -> str:
    rows = max([len(s.touchpoints) for s in report.stages] + [1])
    columns = max(len(report.stages), 1)
    width = 2 * MARGIN + columns * COLUMN + (columns - 1) * GAP
    legend_y = MARGIN + TITLE + HEADER + GAP + rows * (CELL + GAP)
    height = legend_y + LEGEND + MARGIN
    parts = [f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             _text(MARGIN, MARGIN + 20, f"{report.name} ({report.key})", font_weight="bold", font_size="18")]
    for index, stage in enumerate(report.stages):
        x = MARGIN + index * (COLUMN + GAP)
        parts += _header(stage, x, MARGIN + TITLE, index == len(report.stages) - 1)
        for row, cell in enumerate(stage.touchpoints):
            parts += _cell(cell, x, MARGIN + TITLE + HEADER + GAP + row * (CELL + GAP))
    parts += _legend(legend_y)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12" '
            f'role="img">\n<title>{escape(f"Journey map: {report.name}")}</title>\n'
            + "\n".join(parts) + "\n</svg>\n")
