"""bench/compare's chart: its tables' ops/s and server CPU per request as
one SVG image, written by hand (standard library only, no plotting
package), for a results page or a pull request.

    +--------------------------------------------------------------+
    | title; date, host and run facts                              |
    | legend: one colour per server; the null server hatched       |
    | ops/s        ## ##                ##                          |
    |          ## ## ## ##//   ## ## ##//  ...   one group per table |
    | (a) p1 mc-text        (b) p16 mc-text                        |
    | server CPU µs/request (the same groups)                      |
    | what the cells are                                           |
    +--------------------------------------------------------------+

A group is one table of compare (a cell in one protocol): a bar per
server in its colour, with its value above it, and the null server (the
floor: it answers without storing anything) as a hatched grey bar with a
dashed line across the group at its height, so that each server's
distance from the floor can be read off. A server whose runs saw errors
gets a red outline and "ERR"; one skipped (a stashd that refused TLS) a
note instead of a bar. A panel whose values span more than 50x is drawn
on a logarithmic axis, and says so.
"""

import math
from xml.sax.saxutils import escape

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
COLOURS = {"stashd": "#1f5fbf", "memcached": "#e08a00", "redis": "#c8342b",
           "pogocache": "#2e9e5b"}
SPARE_COLOURS = ("#7a4fbf", "#17a2b8", "#8c564b", "#d16ba5", "#6b8e23", "#4b4b4b")
FLOOR = "null"  # the server drawn as the floor
FLOOR_COLOUR = "#6e6e6e"
# A panel whose max / min is above this gets a log axis: below it, the
# shortest bar of a linear one is still ~4 px and has its value above it.
# Linear is the default because bar lengths then compare as ratios do.
LOG_SPAN = 50.0

WIDTH_MIN = 760
LEFT, RIGHT = 84, 24
PANEL_H = 230  # the plotting area of one panel
SLOT_MIN = 96  # the narrowest group
BAR_MAX = 34
LINE = 15  # height of a line of 11-px text

PANELS = (("ops", "ops/s (more is better)", "ops/s"),
          ("cpu", "server CPU µs per request (less is better)", "µs/request"))


def colour_of(name, seen):
    """A fixed colour for the known servers, the spare ones in order for
    the rest."""
    if name not in seen:
        spare = [c for c in SPARE_COLOURS if c not in seen.values()]
        seen[name] = COLOURS.get(name) or (spare[0] if spare else "#999999")
    return seen[name]


def human(v, unit):
    """A bar's value in at most 4 characters or so: 153k, 1.27M, 0.78, 6.2."""
    if v is None:
        return "—"
    if unit == "ops/s":
        if v >= 1e6:
            return f"{v / 1e6:.2f}M"
        if v >= 1e4:
            return f"{v / 1e3:.0f}k"
        if v >= 1e3:
            return f"{v / 1e3:.1f}k"
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def text_width(s, size):
    """Rough width of s in px at font size (DejaVu Sans averages ~0.6 em)."""
    return len(s) * size * 0.6


def wrap(s, width_px, size):
    """s cut into lines that fit width_px, at spaces."""
    lines, cur = [], ""
    for word in s.split(" "):
        trial = f"{cur} {word}" if cur else word
        if cur and text_width(trial, size) > width_px:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return lines + ([cur] if cur else [])


class Axis:
    """Maps values to heights in a panel: linear from 0, or logarithmic
    from a whole decade when the values span more than LOG_SPAN."""

    def __init__(self, values, height):
        vals = [v for v in values if v is not None and v > 0]
        self.height = height
        lo, hi = (min(vals), max(vals)) if vals else (1.0, 1.0)
        self.log = hi / lo > LOG_SPAN
        if self.log:
            self.lo = 10 ** math.floor(math.log10(lo))
            # Headroom above the tallest bar for its value label.
            self.hi = nice_step(hi * 2)
        else:
            # Room above the tallest bar for its value (a rotated one is
            # ~35 px of the 230), and a tick every 1, 2 or 5 units.
            self.lo = 0.0
            self.step = nice_step(hi * 1.2 / 6)
            self.hi = self.step * math.ceil(hi * 1.2 / self.step)

    def y(self, v):
        """Height above the panel's bottom of value v (clipped to it)."""
        if v is None or v <= 0:
            return 0.0
        if self.log:
            f = (math.log10(max(v, self.lo)) - math.log10(self.lo)) / \
                (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = v / self.hi
        return self.height * min(1.0, max(0.0, f))

    def ticks(self):
        if self.log:
            out, d = [], self.lo
            while d <= self.hi * 1.0001:
                out += [t for t in (d, 2 * d, 5 * d) if t <= self.hi * 1.0001]
                d *= 10
            return out
        n = int(round(self.hi / self.step))
        return [self.step * i for i in range(n + 1)]


def nice_step(raw):
    """The 1, 2 or 5 times a power of ten at or above raw."""
    if raw <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * p * 1.0001:
            return m * p
    return 10 * p


def tick_label(v, unit):
    if unit == "ops/s":
        if v >= 1e6:
            return f"{v / 1e6:g}M"
        if v >= 1e3:
            return f"{v / 1e3:g}k"
        return f"{v:g}"
    return f"{v:g}"


class Svg:
    def __init__(self):
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=11, anchor="start", weight=None, colour="#222",
             rotate=False, style=None):
        attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" ' \
                f'fill="{colour}"'
        if weight:
            attrs += f' font-weight="{weight}"'
        if style:
            attrs += f' font-style="{style}"'
        if rotate:
            attrs += f' transform="rotate(-90 {x:.1f} {y:.1f})"'
        self.add(f"<text {attrs}>{escape(s)}</text>")

    def rect(self, x, y, w, h, fill, stroke=None, stroke_width=1, tip=None):
        """A rectangle; tip, when given, is its tooltip (an SVG title)."""
        extra = f' stroke="{stroke}" stroke-width="{stroke_width}"' if stroke else ""
        end = f"><title>{escape(tip)}</title></rect>" if tip else "/>"
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                 f'fill="{fill}"{extra}{end}')

    def line(self, x1, y1, x2, y2, colour="#222", width=1, dash=None):
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                 f'stroke="{colour}" stroke-width="{width}"{extra}/>')


def render(groups, title, facts, notes=()):
    """The SVG document (a str) of groups, each a dict:

        label:  (first line, second line) under the group, e.g.
                ("(b) p16", "mc-text")
        bars:   [dict(server=name, ops=float|None, cpu=float|None,
                      errors=bool, skipped=str|None)], the floor server
                among them (drawn last, hatched)

    title is the heading, facts a list of lines (date, host, run), notes
    lines printed under the panels."""
    colours = {}
    for g in groups:
        for b in g["bars"]:
            if b["server"] != FLOOR:
                colour_of(b["server"], colours)
    nbars = max([len(g["bars"]) for g in groups] or [1])
    slot = max(SLOT_MIN, nbars * 26 + 22)
    width = max(WIDTH_MIN, LEFT + RIGHT + slot * max(1, len(groups)))
    plot_w = width - LEFT - RIGHT
    slot = plot_w / max(1, len(groups))
    bar_w = min(BAR_MAX, (slot - 20) / nbars)

    svg = Svg()
    y = 26
    svg.text(LEFT - 60, y, title, size=16, weight="bold")
    y += 8
    for line in facts:
        for part in wrap(line, width - LEFT + 40, 11):
            y += LINE
            svg.text(LEFT - 60, y, part, colour="#444")
    y += 22
    y = legend(svg, LEFT - 60, y, width, colours, any(
        b["server"] == FLOOR for g in groups for b in g["bars"]))
    if not groups:
        y += 30
        svg.text(width / 2, y, "no table with ops/s to draw (cell e, memory, is in the tables only)",
                 size=13, anchor="middle")
        y += 20
    for key, heading, unit in PANELS if groups else ():
        y += 30
        svg.text(LEFT - 60, y, heading, size=13, weight="bold")
        top = y + 14
        axis = Axis([b.get(key) for g in groups for b in g["bars"]], PANEL_H)
        panel(svg, groups, key, unit, axis, top, slot, bar_w, colours)
        y = top + PANEL_H + 2 * LINE + 8
    y += 6
    for note in notes:
        for part in wrap(note, width - LEFT + 40, 10):
            y += 13
            svg.text(LEFT - 60, y, part, size=10, colour="#555")
    height = int(y + 16)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
            f'viewBox="0 0 {width:.0f} {height}" font-family="{FONT}">\n'
            f'<title>{escape(title)}</title>\n'
            '<defs><pattern id="floor-hatch" width="6" height="6" '
            'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            f'<rect width="6" height="6" fill="#ececec"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{FLOOR_COLOUR}" stroke-width="2.5"/>'
            '</pattern></defs>\n'
            f'<rect width="{width:.0f}" height="{height}" fill="white"/>\n')
    return head + "\n".join(svg.parts) + "\n</svg>\n"


def legend(svg, x, y, width, colours, has_floor):
    """One swatch and name per server, in the order they first appear;
    returns the y below it."""
    items = [(name, c) for name, c in colours.items()]
    if has_floor:
        items.append((f"{FLOOR} server: the floor (answers without storing)", "url(#floor-hatch)"))
    cx = x
    for name, fill in items:
        w = 14 + 6 + text_width(name, 12) + 18
        if cx + w > width - RIGHT and cx > x:
            cx = x
            y += 20
        svg.rect(cx, y - 11, 14, 14, fill, stroke="#333" if fill.startswith("url") else None)
        svg.text(cx + 20, y + 1, name, size=12)
        cx += w
    return y


def panel(svg, groups, key, unit, axis, top, slot, bar_w, colours):
    bottom = top + PANEL_H
    # Grid and y axis.
    for t in axis.ticks():
        ty = bottom - axis.y(t) if t > 0 else bottom
        svg.line(LEFT, ty, LEFT + slot * len(groups), ty, colour="#e2e2e2")
        svg.text(LEFT - 6, ty + 4, tick_label(t, unit), size=10, anchor="end", colour="#444")
    label = unit + (" (log scale)" if axis.log else "")
    svg.text(LEFT - 56, top + PANEL_H / 2, label, size=11, anchor="middle", rotate=True)
    svg.line(LEFT, top, LEFT, bottom, colour="#444")
    svg.line(LEFT, bottom, LEFT + slot * len(groups), bottom, colour="#444")
    rotate_values = bar_w < 30
    for i, g in enumerate(groups):
        x0 = LEFT + i * slot + (slot - bar_w * len(g["bars"])) / 2
        if i > 0:
            svg.line(LEFT + i * slot, bottom, LEFT + i * slot, bottom + 6, colour="#444")
        floor = next((b for b in g["bars"] if b["server"] == FLOOR), None)
        bars = [b for b in g["bars"] if b["server"] != FLOOR] + ([floor] if floor else [])
        if floor and floor.get(key) and not floor.get("skipped"):
            # Behind the bars: the floor shows where a bar is shorter.
            fy = bottom - axis.y(floor[key])
            svg.line(LEFT + i * slot + 4, fy, LEFT + (i + 1) * slot - 4, fy,
                     colour=FLOOR_COLOUR, width=1.2, dash="5,3")
        for j, b in enumerate(bars):
            tip = f"{b['server']}, {' '.join(g['label'])}: {human(b.get(key), unit)} {unit}"
            bar(svg, b, key, unit, axis, x0 + j * bar_w, bottom, bar_w, colours, rotate_values,
                tip)
        cx = LEFT + (i + 0.5) * slot
        svg.text(cx, bottom + LINE, g["label"][0], size=11, anchor="middle", weight="bold")
        svg.text(cx, bottom + 2 * LINE, g["label"][1], size=11, anchor="middle")


def bar(svg, b, key, unit, axis, x, bottom, bar_w, colours, rotate_values, tip):
    v = b.get(key)
    floor = b["server"] == FLOOR
    fill = "url(#floor-hatch)" if floor else colours[b["server"]]
    w = bar_w - 3
    cx = x + bar_w / 2
    if b.get("skipped"):
        svg.text(cx + 3, bottom - 4, f"{b['server']} skipped", size=9, colour="#777",
                 rotate=True)
        return
    h = axis.y(v)
    stroke = "#d00000" if b.get("errors") else (FLOOR_COLOUR if floor else None)
    if v is not None:  # a bar of 0 (no CPU tick in a short run) still has its tooltip
        svg.rect(x + 1.5, bottom - h, w, h, fill, stroke=stroke,
                 stroke_width=2 if b.get("errors") else 1, tip=tip)
    label = ("ERR " if b.get("errors") else "") + human(v, unit)
    colour = "#d00000" if b.get("errors") else "#222"
    if rotate_values:
        svg.text(cx + 3.5, bottom - h - 4, label, size=10, colour=colour, rotate=True)
    else:
        svg.text(cx, bottom - h - 4, label, size=10, anchor="middle", colour=colour)
