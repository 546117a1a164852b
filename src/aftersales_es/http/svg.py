"""The statechart of a case kind as inline SVG, drawn from the one transition table.

No JavaScript and nothing fetched: the server lays the eleven states out on
a fixed grid and draws each transition the kind admits as a curved arrow.
The case's current state is filled, the states it went through and the
transitions it took are drawn in the highlight colour.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

from aftersales_es.domain.statechart import KIND_GUARDS, PLAN_GUARDS, STATES, TERMINAL, TRANSITIONS

W, H = 960, 470
BOX_W, BOX_H = 140, 40
#: Grid positions (centre x, centre y): the happy paths run left to right.
POS: dict[str, tuple[int, int]] = {
    "requested": (80, 60),
    "awaiting_return": (355, 60),
    "returning": (620, 60),
    "refunded": (880, 60),
    "proposed": (80, 235),
    "received": (620, 235),
    "closed": (880, 235),
    "rejected": (80, 410),
    "disputed": (355, 410),
    "reshipping": (620, 410),
    "completed": (880, 410),
}


def edges(kind: str) -> dict[tuple[str, str], list[str]]:
    """(source, dest) -> triggers, for the transitions ``kind`` may take."""
    out: dict[tuple[str, str], list[str]] = {}
    for t in TRANSITIONS:
        if t.guard in KIND_GUARDS and kind not in KIND_GUARDS[t.guard]:
            continue
        if t.guard in PLAN_GUARDS and kind == "cancel_undelivered":
            continue
        if t.source == t.dest:
            continue
        names = out.setdefault((t.source, t.dest), [])
        if t.trigger not in names:
            names.append(t.trigger)
    return out


def _border(src: tuple[int, int], dst: tuple[int, int]) -> tuple[float, float]:
    """Where the line from ``src``'s centre to ``dst``'s centre leaves ``dst``'s box."""
    dx, dy = src[0] - dst[0], src[1] - dst[1]
    sx = (BOX_W / 2 + 4) / abs(dx) if dx else float("inf")
    sy = (BOX_H / 2 + 4) / abs(dy) if dy else float("inf")
    s = min(sx, sy)
    return dst[0] + dx * s, dst[1] + dy * s


def statechart_svg(kind: str, state: str | None, path: Sequence[str] = ()) -> str:
    """The SVG markup; ``path`` is the sequence of states the case has been in."""
    taken = {(a, b) for a, b in itertools.pairwise(path) if a != b}
    visited = set(path)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="statechart"'
        f' role="img" aria-label="statechart of a {escape(kind)} case">',
        "<defs>",
        *(
            f'<marker id="arrow-{c}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
            f' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
            f' class="{c}-head"/></marker>'
            for c in ("edge", "taken")
        ),
        "</defs>",
    ]
    for (a, b), names in sorted(edges(kind).items()):
        cls = "taken" if (a, b) in taken else "edge"
        (x1, y1), (x2, y2) = _border(POS[b], POS[a]), _border(POS[a], POS[b])
        # Bend each arrow to its right, so a->b and b->a never overlap.
        mx, my = (x1 + x2) / 2 - (y2 - y1) * 0.12, (y1 + y2) / 2 + (x2 - x1) * 0.12
        parts.append(
            f'<path d="M{x1:.0f},{y1:.0f} Q{mx:.0f},{my:.0f} {x2:.0f},{y2:.0f}" class="{cls}"'
            f' data-edge="{a}-{b}" marker-end="url(#arrow-{cls})"><title>{a} → {b}:'
            f" {escape(', '.join(names))}</title></path>"
        )
        lx, ly = (x1 + 2 * mx + x2) / 4, (y1 + 2 * my + y2) / 4
        label = escape(" / ".join(names[:2]) + (" …" if len(names) > 2 else ""))
        parts.append(f'<text x="{lx:.0f}" y="{ly:.0f}" class="elabel {cls}-label">{label}</text>')
    for s in STATES:
        x, y = POS[s]
        classes = ["state"]
        if s in TERMINAL:
            classes.append("terminal")
        if s in visited:
            classes.append("visited")
        if s == state:
            classes.append("current")
        current = ' aria-current="step"' if s == state else ""
        parts.append(
            f'<g class="{" ".join(classes)}" data-state="{s}"{current}>'
            f'<rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}"'
            f' height="{BOX_H}" rx="{18 if s in TERMINAL else 6}"/>'
            f'<text x="{x}" y="{y + 5}">{s.replace("_", " ")}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
