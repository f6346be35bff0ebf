"""Tables that fit the screen: cells wrapped between path components, and a block per row when nothing fits.

A cell is a list of spans (term.py). Wrapping breaks at spaces and, inside
a word, before a `/` or `[` and after a `,` or `:`, so `/srv/layers/app`
may become `/srv/layers` + `/app` but never `/srv/lay` + `ers/app`; a
single component longer than the whole width is the only thing ever cut.
Columns shrink from their natural width down to their longest unbreakable
piece, widest first (a column marked `keep` last). When even that does not
fit, the table becomes one block per row, like `findmnt --list` gives up on
the tree:

    mount /srv/app/config
      change  bind /srv/data/config ro,nosuid,nodev
      reason  new entry
"""

import re

from .term import cell_len, spans_len

# A space run, or a word piece: an optional `[` or `/` in front, then up to the next break, with a `,` or `:` kept.
_PIECE = re.compile(r"\s+|\[?/?[^\s/\[,:]*[,:]?")

_BOX = {"top": "┏━┳┓", "head": "┃┃┃", "rule": "┡━╇┩", "body": "│││", "section": "├─┼┤", "bottom": "└─┴┘"}


def pieces(text):
    """Return [(piece, is_space)]: `text` cut at every place a line may break."""
    return [(m.group(), m.group()[0].isspace()) for m in _PIECE.finditer(text) if m.group()]


def longest_piece(spans):
    """Return the width of the longest piece no line break may cut."""
    best = 0
    for text, style in spans:
        for p, space in _span_pieces(text, style):
            if not space:
                best = max(best, cell_len(p))
    return best


def _span_pieces(text, style):
    # A span styled `nobreak` (a device path such as /dev/sda1) is one piece.
    return [(text, False)] if "nobreak" in style.split() else pieces(text)


def wrap(spans, width, cont=None, lead=None):
    """Return `spans` as lines (lists of spans) no wider than `width`.

    A word (what lies between blanks) that does not fit goes to the next
    line whole; only a word longer than a line is cut, between its pieces.
    The first line starts with spans `lead`, the others with spans `cont`,
    both as they are (their blanks kept).
    """
    cont = cont or []
    cont_w = spans_len(cont)
    state = {"lines": [], "line": list(lead or []), "start": 0, "pending": None}
    state["used"] = state["start"] = spans_len(state["line"])

    def newline():
        line = state["line"]
        if len(line) > 1 and line[-1][0] == " " and spans_len(line) > state["start"]:
            line.pop()  # the blank before a word that went on the next line after all
        state["lines"].append(line)
        state["line"], state["used"], state["start"], state["pending"] = list(cont), cont_w, cont_w, None

    def put(word):
        w = sum(cell_len(p) for p, _ in word)
        gap = 1 if state["pending"] is not None else 0
        if state["used"] > state["start"] and state["used"] + gap + w > width:
            if cont_w + w <= width:
                newline()  # the whole word on the next line
        if state["pending"] is not None and state["used"] > state["start"]:
            state["line"].append(state["pending"])
            state["used"] += 1
        state["pending"] = None
        if state["used"] + w <= width:
            state["line"].extend(word)
            state["used"] += w
            return
        # Longer than a line: cut after a `:` or `,` (between list items) before cutting at a `/`.
        segment = []
        for k, (p, style) in enumerate(word):
            segment.append((p, style))
            if p[-1:] in ",:" or k == len(word) - 1:
                seg_w = sum(cell_len(x) for x, _ in segment)
                if state["used"] > state["start"] and state["used"] + seg_w > width and cont_w + seg_w <= width:
                    newline()
                put_pieces(segment)
                segment = []

    def put_pieces(word):
        for p, style in word:
            pw = cell_len(p)
            if state["used"] > state["start"] and state["used"] + pw > width:
                newline()
            while state["used"] + pw > width and width - state["used"] > 0 and pw > 1 and cont_w < width:
                room = width - state["used"]  # one piece wider than a line: the only place text is cut
                state["line"].append((p[:room], style))
                newline()
                p = p[room:]
                pw = cell_len(p)
            state["line"].append((p, style))
            state["used"] += pw

    word = []
    for text, style in spans:
        for p, space in _span_pieces(text, style):
            if space:
                if word:
                    put(word)
                    word = []
                if state["used"] > state["start"]:
                    state["pending"] = (" ", style)
                continue
            word.append((p, style))
    if word:
        put(word)
    state["lines"].append(state["line"])
    return state["lines"]


class Column:
    """A column: its header, whether it may wrap, whether it shrinks last, and whether repeats are blanked."""

    def __init__(self, header, wrap=True, keep=False, dedupe=False, label=None, give=0):
        self.header = header
        self.wrap = wrap
        self.keep = keep  # keeps a third of the width while others can narrow
        self.give = give  # columns with a higher `give` narrow first
        self.dedupe = dedupe  # in table form, a value equal to the row above (same section) is left blank
        self.label = label or header.lower()  # the field name in block form


class Row:
    """A row of cells (lists of spans), or one `full` line across the table (an overlay's layer in `show`).

    `cont` (spans) starts the continuation lines of the first cell: a tree's
    guide goes on down the column instead of breaking off.
    """

    def __init__(self, cells=None, full=None, cont=None, section=False, lead=None):
        self.cells = cells
        self.full = full
        self.lead = lead or []  # spans before `full`, kept as they are (a tree's guide)
        self.cont = cont or []
        self.section = section  # a rule above this row (boxed tables), a new group


class Table:
    """Columns and rows, rendered boxed (plan, status) or plain like findmnt (show) to a width."""

    def __init__(self, columns, boxed=True, title=None, head=1):
        self.columns = columns
        self.rows = []
        self.boxed = boxed
        self.title = title  # spans, printed above
        self.head = head  # how many leading cells make a block's first line

    def add(self, *cells, cont=None, section=False):
        """Add a row of cells (each a list of spans, or a plain string)."""
        self.rows.append(Row([_spans(c) for c in cells], cont=cont, section=section))

    def add_full(self, spans, lead=None, cont=None):
        """Add a line that spans the whole table: `lead` (spans kept as they are), then `spans`, wrapped."""
        self.rows.append(Row(full=_spans(spans), lead=lead, cont=cont))

    def render(self, width, blocks=None):
        """Return the lines (lists of spans) of the table laid out to `width`; blocks when it cannot fit.

        `blocks` True or False forces the form; None chooses.
        """
        widths = self._widths(width)
        out = [self.title] if self.title is not None else []
        if blocks or (blocks is None and widths is None):
            return out + self._blocks(width)
        table = self._boxed(widths) if self.boxed else self._plain(widths, width)
        frame = 1 + (3 + sum(1 for r in self.rows[1:] if r.section) if self.boxed else 0)  # lines that are no row
        if blocks is None and len(table) - frame > 1.5 * len(self.rows) + 1:
            # Squeezed until cells fold line after line: one block per row reads better, if no longer.
            block = self._blocks(width)
            if len(block) <= len(table):
                return out + block
        return out + table

    def fits(self, width):
        """Return True when the table form fits `width` columns."""
        return self._widths(width) is not None

    # ---- layout ------------------------------------------------------------------------------
    def _overhead(self):
        n = len(self.columns)
        return 3 * n + 1 if self.boxed else 2 * (n - 1)

    def _widths(self, width):
        """Return each column's width to fit `width`, or None when the table cannot fit."""
        n = len(self.columns)
        natural = [cell_len(c.header) for c in self.columns]
        least = list(natural)
        for row in self.rows:
            if row.cells is None:
                continue
            for i, cell in enumerate(row.cells):
                w = spans_len(cell)
                if w > natural[i]:
                    natural[i] = w
                # A tree's continuation guide comes before the piece that goes on the next line.
                shortest = longest_piece(cell) + (spans_len(row.cont) if i == 0 else 0) if self.columns[i].wrap else w
                if shortest > least[i]:
                    least[i] = min(shortest, w)
        room = width - self._overhead()
        if sum(natural) <= room:
            return natural
        if sum(least) > room:
            return None
        widths = list(natural)
        # A `keep` column (what a reader scans for) keeps a third of the room while others can still narrow.
        floor = [max(least[i], min(natural[i], room // 3)) if c.keep else least[i] for i, c in enumerate(self.columns)]
        for _ in range(sum(widths) - room):
            # Narrow the widest column that still can.
            movable = [i for i in range(n) if widths[i] > floor[i]] or [i for i in range(n) if widths[i] > least[i]]
            widths[max(movable, key=lambda k: (self.columns[k].give, widths[k]))] -= 1
        return widths

    def _cell_lines(self, row, i, width):
        cell = row.cells[i]
        if spans_len(cell) <= width:
            return [cell]
        return wrap(cell, width, cont=row.cont if i == 0 else None)

    def _rows(self, widths):
        """Yield (row, [lines of each cell]) with repeated values blanked in dedupe columns."""
        last = None
        for row in self.rows:
            if row.full is not None:
                yield row, None
                continue
            cells = list(row.cells)
            if last is not None and not row.section:
                for i, col in enumerate(self.columns):
                    if col.dedupe and _text(cells[i]) == _text(last[i]):
                        cells[i] = []
            last = row.cells
            shown = Row(cells, cont=row.cont, section=row.section)
            lines = [self._cell_lines(shown, i, w) for i, w in enumerate(widths)]
            height = max(len(c) for c in lines)
            if row.cont and len(lines[0]) < height:  # a tree's guides go on down beside a taller cell
                lines[0] = lines[0] + [row.cont] * (height - len(lines[0]))
            yield row, lines

    def _plain(self, widths, width):
        out = [_join([[(c.header, "bold")] for c in self.columns], widths, "  ")]
        for row, cells in self._rows(widths):
            if cells is None:
                out += wrap(row.full, width, lead=row.lead, cont=row.cont)
                continue
            for k in range(max(len(c) for c in cells)):
                out.append(_join([c[k] if k < len(c) else [] for c in cells], widths, "  "))
        return [_rstrip(line) for line in out]

    def _boxed(self, widths):
        def rule(kind):
            left, fill, mid, right = _BOX[kind]
            return [(left + mid.join(fill * (w + 2) for w in widths) + right, "")]

        bar = _BOX["body"][0]
        out = [rule("top"), [("┃ ", "")] + _join([[(c.header, "bold")] for c in self.columns], widths, " ┃ ")
               + [(" ┃", "")], rule("rule")]
        first = True
        for row, cells in self._rows(widths):
            if row.section and not first:
                out.append(rule("section"))
            first = False
            if cells is None:
                inner = sum(widths) + 3 * (len(widths) - 1)
                out += [[(bar + " ", "")] + _pad(line, inner) + [(" " + bar, "")]
                        for line in wrap(row.full, inner, lead=row.lead, cont=row.cont)]
                continue
            for k in range(max(len(c) for c in cells)):
                line = _join([c[k] if k < len(c) else [] for c in cells], widths, " %s " % bar)
                out.append([(bar + " ", "")] + line + [(" " + bar, "")])
        out.append(rule("bottom"))
        return out

    def _blocks(self, width):
        """Return one block per row: the head cells on a line, then `label  value` lines, wrapped."""
        label_w = max(len(c.label) for c in self.columns[self.head:]) if len(self.columns) > self.head else 0
        out = []
        for k, row in enumerate(self.rows):
            if row.full is not None:
                out += wrap(row.full, width, lead=row.lead, cont=row.cont)
                continue
            if row.section and k:
                out.append([])
            head = []
            for cell in row.cells[:self.head]:
                if _text(cell):
                    head += ([(" ", "")] if head else []) + cell
            out += wrap(head, width, cont=row.cont + [("  ", "")])
            for col, cell in zip(self.columns[self.head:], row.cells[self.head:]):
                if not _text(cell):
                    continue
                lead = row.cont + [("  %s  " % col.label.ljust(label_w), "dim")]
                out += wrap(cell, width, lead=lead, cont=row.cont + [(" " * (label_w + 4), "")])
        return out


def _spans(cell):
    if cell is None:
        return []
    return [(cell, "")] if isinstance(cell, str) else list(cell)


def _text(spans):
    return "".join(t for t, _ in spans)


def _pad(spans, width):
    gap = width - spans_len(spans)
    return spans + [(" " * gap, "")] if gap > 0 else list(spans)


def _join(cells, widths, sep):
    line = []
    for i, (cell, w) in enumerate(zip(cells, widths)):
        if i:
            line.append((sep, ""))
        line += _pad(cell, w)
    return line


def _rstrip(line):
    while line and not line[-1][0].strip():
        line = line[:-1]
    if line:
        text, style = line[-1]
        line = line[:-1] + [(text.rstrip(), style)]
    return line
