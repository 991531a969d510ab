"""report.html: the document rendered as one self-contained HTML page.

Every image is embedded as base64, so the page is one file that can be mailed around.
"""

from __future__ import annotations

import base64
from html import escape

from ednas_tf.reporting.document import Code, Figure, Section, Table, Text, cell

_CSS = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f0f0f0}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}img{max-width:100%}
figcaption{font-style:italic;color:#555}"""


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (
        f'<figure><img alt="{escape(figure.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{escape(figure.caption)}</figcaption></figure>"
    )


def _table(table: Table) -> list[str]:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    rows = [
        "<tr>" + "".join(f"<td>{escape(cell(v))}</td>" for v in r) + "</tr>" for r in table.rows
    ]
    return [f"<table><tr>{head}</tr>", *rows, "</table>"]


def render_html(title: str, sections: list[Section]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    for section in sections:
        out.append(f"<h2>{escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Text):
                out.append(f"<p>{escape(block.text)}</p>")
            elif isinstance(block, Code):
                out.append(f"<pre>{escape(block.text)}</pre>")
            elif isinstance(block, Figure):
                out.append(_figure(block))
            else:
                out += _table(block)
    out.append("</body></html>")
    return "\n".join(out)
