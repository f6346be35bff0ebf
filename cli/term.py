"""The two output streams: colour or not, how wide, and styled text written as ANSI SGR sequences.

Styled text is a list of spans, (text, style) pairs, style a string of
words such as "bold red" ("" for none). Plain string work: a plan of a
thousand rows renders in milliseconds, and nothing heavy is imported
(rich took a fifth of a second to import and a millisecond a line to print,
which was most of what `livemount apply` of a thousand binds cost; issue 17).

Colour follows --color/--no-color, then NO_COLOR (any value turns it off),
then whether the stream is a terminal (TERM=dumb is none). Width is
COLUMNS when set, else the terminal's; a stream that is no terminal has no
width for messages (they are never hard-wrapped into a log), and tables
written there use COLUMNS or 80.
"""

import os
import unicodedata

_SGR = {"bold": "1", "dim": "2", "italic": "3", "underline": "4", "red": "31", "green": "32", "yellow": "33",
        "blue": "34", "magenta": "35", "cyan": "36"}
_CODES = {}


def sgr(style):
    """Return the ANSI SGR sequence that turns `style` on ('' for none; the word `nobreak` is for table.py)."""
    if style not in _CODES:
        codes = [_SGR[w] for w in style.split() if w in _SGR]
        _CODES[style] = "\x1b[%sm" % ";".join(codes) if codes else ""
    return _CODES[style]


def cell_len(text):
    """Return how many terminal cells `text` takes (wide East Asian characters take two, combining marks none)."""
    if text.isascii():
        return len(text)
    n = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return n


def spans_len(spans):
    """Return the cell width of a list of spans."""
    return sum(cell_len(t) for t, _ in spans)


def plain(spans):
    """Return the text of a list of spans without styles."""
    return "".join(t for t, _ in spans)


def isatty(stream):
    """Return True when `stream` is a terminal (False for closed or fake streams)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Stream:
    """One output stream (stdout or stderr): writes spans with or without colour."""

    def __init__(self, file, color_flag=None, environ=None):
        env = os.environ if environ is None else environ
        self.file = file
        self.is_terminal = isatty(file)
        if color_flag is not None:
            self.color = bool(color_flag)
        else:
            self.color = not env.get("NO_COLOR") and self.is_terminal and env.get("TERM") != "dumb"
        self.width = _width(file, self.is_terminal, env)

    def table_width(self):
        """Return the width tables are laid out to: the stream's, else 80 (a pipe without COLUMNS)."""
        return self.width or 80

    def paint(self, spans):
        """Return `spans` as one string, with SGR sequences when colour is on."""
        if not self.color:
            return "".join(t for t, _ in spans)
        out = []
        run, run_code = [], ""
        for text, style in spans:  # one SGR sequence per run of equally styled text (wrap() cuts text in pieces)
            code = sgr(style) if style else ""
            if code != run_code and run:
                out.append("%s%s\x1b[0m" % (run_code, "".join(run)) if run_code else "".join(run))
                run = []
            run_code = code
            run.append(text)
        if run:
            out.append("%s%s\x1b[0m" % (run_code, "".join(run)) if run_code else "".join(run))
        return "".join(out)

    def write(self, text):
        """Write `text` as it is and flush."""
        self.file.write(text)
        self.file.flush()

    def lines(self, lines):
        """Write each list of spans in `lines` as one line, in a single write."""
        self.write("".join(self.paint(line) + "\n" for line in lines))

    def message(self, spans, indent=""):
        """Write one message line; on a terminal wrapped at spaces to its width (continuations `indent`ed)."""
        if not self.width or not self.is_terminal:
            self.write(self.paint(spans) + "\n")
            return
        from .table import wrap

        self.lines(wrap(spans, self.width, cont=[(indent, "")] if indent else None))


def _width(file, is_terminal, env):
    try:
        columns = int(env.get("COLUMNS", ""))
        if columns > 0:
            return columns
    except ValueError:
        pass
    if is_terminal:
        try:
            return os.get_terminal_size(file.fileno()).columns or None
        except (OSError, ValueError, AttributeError):
            return None
    return None
