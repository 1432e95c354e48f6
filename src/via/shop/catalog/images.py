"""Product pictures drawn locally as SVG: a colour per category, a motif per subcategory and the
product's name. Nothing is downloaded; the same product always gets the same picture."""

from __future__ import annotations

import hashlib
import textwrap
from xml.sax.saxutils import escape

PALETTE = {
    "Seasonal": ("#b23a48", "#fcefe9"),
    "Party": ("#e07a5f", "#fdf0e6"),
    "Stationery & gifts": ("#3d5a80", "#e8eef6"),
    "Toys & kids": ("#f2a541", "#fff6e5"),
    "Fashion & jewellery": ("#8e5572", "#f6ebf1"),
    "Kitchen & dining": ("#2a9d8f", "#e6f5f3"),
    "Home & living": ("#6d597a", "#f1edf4"),
    "Garden & outdoor": ("#588157", "#ebf3ea"),
}
MOTIFS = (
    # heart
    '<path d="M200 250 C 120 190, 110 130, 160 115 C 185 108, 200 125, 200 140 '
    'C 200 125, 215 108, 240 115 C 290 130, 280 190, 200 250 Z" fill="{fg}" opacity=".85"/>',
    # star
    '<polygon points="200,90 222,155 290,155 235,195 256,260 200,220 144,260 165,195 110,155 '
    '178,155" fill="{fg}" opacity=".85"/>',
    # circle and ring
    '<circle cx="200" cy="175" r="70" fill="{fg}" opacity=".85"/>'
    '<circle cx="200" cy="175" r="92" fill="none" stroke="{fg}" stroke-width="6" opacity=".4"/>',
    # house / box
    '<rect x="135" y="140" width="130" height="110" rx="8" fill="{fg}" opacity=".85"/>'
    '<polygon points="120,145 200,85 280,145" fill="{fg}" opacity=".6"/>',
    # cup
    '<rect x="140" y="120" width="110" height="120" rx="18" fill="{fg}" opacity=".85"/>'
    '<circle cx="262" cy="175" r="28" fill="none" stroke="{fg}" stroke-width="12" opacity=".85"/>',
    # flower
    '<g fill="{fg}" opacity=".8"><circle cx="200" cy="120" r="35"/><circle cx="255" cy="170" '
    'r="35"/><circle cx="200" cy="220" r="35"/><circle cx="145" cy="170" r="35"/></g>'
    '<circle cx="200" cy="170" r="22" fill="#fff"/>',
)


def product_svg(name: str, category: str, subcategory: str, code: str) -> str:
    fg, bg = PALETTE.get(category, ("#555b6e", "#eeeeee"))
    motif = MOTIFS[int(hashlib.sha1(subcategory.encode()).hexdigest(), 16) % len(MOTIFS)]
    lines = textwrap.wrap(name.title(), width=22)[:3]
    text = "".join(
        f'<text x="200" y="{310 + i * 26}" text-anchor="middle" font-size="21" '
        f'font-family="sans-serif" fill="#222">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400" '
        f'role="img" aria-label="{escape(name, {chr(34): "&quot;"})}">'
        f'<rect width="400" height="400" fill="{bg}"/>'
        f"{motif.format(fg=fg)}{text}"
        f'<text x="388" y="390" text-anchor="end" font-size="12" font-family="monospace" '
        f'fill="{fg}">{escape(code)}</text></svg>'
    )
