"""A small document model for the report, rendered twice: Markdown and self-contained HTML.

packager.report decides what the report says (sections of facts, tables, figures); this module
only decides how it looks, so report.md and report.html always carry the same content. The HTML
has its CSS inline, figures as data: URIs and a Content-Security-Policy that lets the browser
load nothing else, so it opens from disk anywhere, offline.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

from packager.text import plain


@dataclass
class Paragraph:
    text: str
    note: bool = False  # small print


@dataclass
class Facts:
    """Label: value pairs (the header)."""

    items: list[tuple[str, str]]


@dataclass
class Cards:
    """A few headline numbers; the first `highlight` card is drawn in the chosen colour."""

    items: list[tuple[str, str]]
    highlight: int | None = 0


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    highlight: set[int] = field(default_factory=set)  # rows drawn in the chosen colour
    warn: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells to flag (fallbacks, errors)
    hover: dict[tuple[int, int], str] = field(default_factory=dict)  # full text of shortened cells (HTML title)
    text_columns: set[int] = field(default_factory=lambda: {0})  # left-aligned; the rest are numbers
    wrap_columns: set[int] = field(default_factory=set)  # long prose that may wrap
    collapsed: str | None = None  # HTML: folded under this summary line


@dataclass
class Figure:
    name: str  # file stem when written beside report.md
    png: bytes
    caption: str


Block = Paragraph | Facts | Cards | Table | Figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2
    anchor: str = ""


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]
    footer: str = ""

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


# --- Markdown ----------------------------------------------------------------------------------------
_MD_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "[": "\\[", "]": "\\]", "`": "\\`"})


def _md(text: object) -> str:
    """Plain text made inert in Markdown: no raw HTML (<script>, <img onerror>), no links or code
    spans smuggled in through labels, names or descriptions; one line."""
    return " ".join(plain(text).translate(_MD_ESCAPES).splitlines())


def _md_cell(text: str) -> str:
    return _md(text).replace("|", "\\|")


def _md_table(table: Table) -> list[str]:
    align = ["---" if j in table.text_columns or j in table.wrap_columns else "--:" for j in range(len(table.headers))]
    lines = ["| " + " | ".join(_md_cell(h) for h in table.headers) + " |", "|" + "|".join(align) + "|"]
    for i, row in enumerate(table.rows):
        cells = [_md_cell(c) for c in row]
        if i in table.highlight:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(doc: Document, figure_files: dict[str, str] | None = None) -> str:
    """figure_files: figure name -> path relative to report.md; figures without one are left out
    (their numbers are in the tables)."""
    figure_files = figure_files or {}
    out = [f"# {_md(doc.title)}", ""]
    if doc.subtitle:
        out += [_md(doc.subtitle), ""]
    for section in doc.sections:
        if section.title:
            out += ["#" * section.level + " " + _md(section.title), ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out += [f"_{_md(block.text)}_" if block.note else _md(block.text), ""]
            elif isinstance(block, Facts):
                out += [f"- **{_md(k)}**: {_md(v)}" for k, v in block.items] + [""]
            elif isinstance(block, Cards):
                out += [" · ".join(f"{_md(k)}: **{_md(v)}**" for k, v in block.items), ""]
            elif isinstance(block, Table):
                out += _md_table(block) + [""]
            elif isinstance(block, Figure) and block.name in figure_files:
                out += [f"![{_md(block.caption)}]({figure_files[block.name]})", ""]
    if doc.footer:
        out += ["---", "", f"_{_md(doc.footer)}_", ""]
    return "\n".join(out).rstrip() + "\n"


# --- HTML --------------------------------------------------------------------------------------------------
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root{--chosen:#d9480f;--chosen-bg:#fff4e6;--ink:#212529;--muted:#6c757d;--line:#dee2e6;--bg:#f8f9fa;--warn:#c92a2a;--fallback:#e67700}
*{box-sizing:border-box}
body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:28px 24px 40px}
h1{font-size:26px;margin:0}h1 small{font-size:16px;color:var(--muted);font-weight:500;margin-left:6px}
.subtitle{color:var(--muted);margin:2px 0 18px}
h2{font-size:19px;margin:34px 0 10px;padding-bottom:5px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:22px 0 8px}
p{margin:6px 0 10px;max-width:920px}p.note{font-size:12px;color:var(--muted)}
nav{font-size:13px;margin:0 0 8px}nav a{color:#1c7ed6;text-decoration:none;margin-right:14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(138px,1fr));gap:10px;margin:0 0 14px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.card .k{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
.card .v{font-size:20px;font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.card.wide{grid-column:span 2}.card.hl{border-color:var(--chosen);box-shadow:inset 4px 0 0 var(--chosen)}.card.hl .v{color:var(--chosen)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 16px;margin:0;font-size:13px}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:10px;margin:8px 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th{font-weight:600;color:var(--muted);font-size:12px;background:#f1f3f5}
th,td{padding:5px 9px;text-align:right;white-space:nowrap;border-bottom:1px solid #e9ecef}
tr:last-child td{border-bottom:0}
.t{text-align:left}.w{white-space:normal;min-width:200px;text-align:left}
tr.hl td{background:var(--chosen-bg);font-weight:600}tr.hl td:first-child{box-shadow:inset 4px 0 0 var(--chosen)}
td.warn{color:var(--fallback);font-weight:600}
details{margin:4px 0 12px}summary{cursor:pointer;color:#1c7ed6;font-size:13px}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(480px,100%),1fr));gap:14px;margin:10px 0}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:10px;padding:10px;display:flex;flex-direction:column}
figure img{width:100%;height:auto;display:block;margin:auto 0}
figcaption{font-size:12px;color:var(--muted);padding:6px 2px 0}
footer{margin-top:36px;font-size:12px;color:var(--muted)}
@media print{body{background:#fff}.figs{grid-template-columns:1fr}}
"""


def _e(text: object) -> str:
    return html.escape(plain(text), quote=True)


def _html_table(table: Table) -> str:
    def cls(j: int) -> str:
        return "w" if j in table.wrap_columns else ("t" if j in table.text_columns else "")

    head = "".join(f'<th class="{cls(j)}">{_e(h)}</th>' for j, h in enumerate(table.headers))
    body = []
    for i, row in enumerate(table.rows):
        cells = []
        for j, cell in enumerate(row):
            classes = " ".join(c for c in (cls(j), "warn" if (i, j) in table.warn else "") if c)
            title = f' title="{_e(table.hover[(i, j)])}"' if (i, j) in table.hover else ""
            cells.append(f'<td class="{classes}"{title}>{_e(cell)}</td>')
        body.append(f'<tr class="{"hl" if i in table.highlight else ""}">{"".join(cells)}</tr>')
    text = f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    if table.collapsed:
        text = f"<details><summary>{_e(table.collapsed)}</summary>{text}</details>"
    return text


def _html_figure(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure id="fig-{_e(fig.name)}"><img alt="{_e(fig.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(fig.caption)}</figcaption></figure>")


def _html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f'<p class="{"note" if block.note else ""}">{_e(block.text)}</p>'
    if isinstance(block, Facts):
        return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in block.items) + "</dl>"
    if isinstance(block, Cards):
        return '<div class="cards">' + "".join(
            f'<div class="card{" hl" if i == block.highlight else ""}{" wide" if len(v) > 11 else ""}"><div class="k">{_e(k)}</div><div class="v" title="{_e(v)}">{_e(v)}</div></div>'
            for i, (k, v) in enumerate(block.items)) + "</div>"
    if isinstance(block, Table):
        return _html_table(block)
    return _html_figure(block)


def _html_blocks(blocks: list[Block]) -> str:
    """Consecutive figures share a grid."""
    out, figures = [], []
    for block in blocks + [None]:
        if isinstance(block, Figure):
            figures.append(_html_figure(block))
            continue
        if figures:
            out.append('<div class="figs">' + "".join(figures) + "</div>")
            figures = []
        if block is not None:
            out.append(_html_block(block))
    return "".join(out)


def to_html(doc: Document) -> str:
    title, _, version = doc.title.partition(" ")
    toc = [s for s in doc.sections if s.level == 2 and s.anchor]
    parts = [
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}: packager report</title><style>{CSS}</style></head>\n<body><main>",
        f"<h1>{_e(title)}<small>{_e(version)}</small></h1>",
        f'<p class="subtitle">{_e(doc.subtitle)}</p>' if doc.subtitle else "",
        ("<nav>" + "".join(f'<a href="#{_e(s.anchor)}">{_e(s.title)}</a>' for s in toc) + "</nav>") if len(toc) > 1 else "",
    ]
    for section in doc.sections:
        anchor = f' id="{_e(section.anchor)}"' if section.anchor else ""
        if section.title:
            parts.append(f"\n<h{section.level}{anchor}>{_e(section.title)}</h{section.level}>")
        parts.append(_html_blocks(section.blocks))
    if doc.footer:
        parts.append(f"<footer>{_e(doc.footer)}</footer>")
    parts.append("</main></body></html>\n")
    return "".join(parts)
