"""Server-rendered SVG charts (no script, no external library): the console's CSP allows them."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def share_bars(rows: Sequence[tuple[str, float, float]], labels: tuple[str, str],
               width: int = 760) -> str:
    """Horizontal bars per row: two shares in [0, 1] (export on time, labelled on time)."""
    bar, gap, left = 14, 10, 160
    height = max(len(rows), 1) * (2 * bar + gap) + 40
    scale = width - left - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(labels[0])} / {escape(labels[1])}">',
             f'<rect x="{left}" y="4" width="12" height="12" fill="#12355b"/>'
             f'<text x="{left + 18}" y="15" font-size="13">{escape(labels[0])}</text>',
             f'<rect x="{left + 220}" y="4" width="12" height="12" fill="#1b7f3b"/>'
             f'<text x="{left + 238}" y="15" font-size="13">{escape(labels[1])}</text>']
    y = 30
    for name, first, second in rows:
        parts.append(f'<text x="{left - 8}" y="{y + bar + 4}" font-size="13" '
                     f'text-anchor="end">{escape(name)}</text>')
        for raw, colour, dy in ((first, "#12355b", 0), (second, "#1b7f3b", bar)):
            value = min(max(raw, 0.0), 1.0)
            parts.append(f'<rect x="{left}" y="{y + dy}" width="{value * scale:.1f}" '
                         f'height="{bar - 2}" fill="{colour}"/>'
                         f'<text x="{left + value * scale + 6:.1f}" y="{y + dy + bar - 4}" '
                         f'font-size="12">{value:.0%}</text>')
        y += 2 * bar + gap
    parts.append("</svg>")
    return "".join(parts)
