"""The one rule for text packager did not write (model metadata, handset properties, results files,
user flags) on its way to a terminal, a plot or a report: it is shown as text, never interpreted.

- control characters (C0 but newline and tab, DEL, C1) and the bidirectional overrides are shown
  as their escapes ('\\x1b', '\\u202e'): a model's description cannot clear the screen, write the
  clipboard (OSC 52) or reorder a line;
- lone surrogates (JSON may hold them, UTF-8 cannot) become U+FFFD, so nothing fails to encode;
- Rich markup is escaped or off (`console()` prints strings literally; `styled()` for packager's
  own styling with values escaped), matplotlib math text is off (`plot_text`, `PLOT_RC`).

Every printer goes through here: the CLI's consoles and error line, inspect, build, bundle and
device tables, report.md/html, the plots and the pytest plugin's lines.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but \t and \n, DEL, C1 controls, bidi embeddings/overrides/isolates, line/paragraph separators
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ONE_LINE = re.compile("[\t\n]")
_UNSAFE = re.compile(f"{_CONTROL.pattern}|{_SURROGATE.pattern}")

# matplotlib: strings are never TeX or math text (a handset named '$\\undefined$' failed the report)
PLOT_RC = {"text.parse_math": False, "text.usetex": False}


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value: Any) -> str:
    """`value` as printable text: controls shown as escapes, lone surrogates as U+FFFD; newlines kept."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_visible, _SURROGATE.sub("\ufffd", text))


def one_line(value: Any) -> str:
    """plain(), with newlines and tabs shown as escapes too (table cells, error lines, file lists)."""
    return _ONE_LINE.sub(_visible, plain(value))


def markup(value: Any) -> str:
    """plain(), with Rich markup escaped: for a value inside packager's own markup."""
    from rich.markup import escape  # noqa: PLC0415

    return escape(plain(value))


def plot_text(value: Any) -> str:
    """Text for a matplotlib label or title: plain, '$' escaped too (math text off even where an rc
    context does not reach, e.g. a figure saved later)."""
    return plain(value).replace("$", r"\$")


def styled(template: str, *values: Any):
    """A Rich Text from packager's own markup `template` with `values` (untrusted) put in as text:
    styled("[bold green]Bundle[/] {}", path)."""
    from rich.text import Text  # noqa: PLC0415

    return Text.from_markup(template.format(*(markup(v) for v in values)))


def console(**kwargs):
    """A Rich Console whose strings are literal (markup off) and made plain, down to the segments it
    writes: Text objects built elsewhere from untrusted values cannot carry a control character out."""
    from rich.console import Console  # noqa: PLC0415
    from rich.segment import Segment  # noqa: PLC0415

    class _PlainConsole(Console):
        def render_str(self, text: str, **options):
            options["markup"] = False
            return super().render_str(plain(text), **options)

        def render(self, renderable, options=None):
            for segment in super().render(renderable, options):
                if segment.control is None and _UNSAFE.search(segment.text):
                    segment = Segment(plain(segment.text), segment.style)
                yield segment

    kwargs.setdefault("markup", False)
    return _PlainConsole(**kwargs)
