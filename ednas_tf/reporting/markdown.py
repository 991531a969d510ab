"""report.md: the document rendered as Markdown (figures linked, not embedded)."""

from __future__ import annotations

from ednas_tf.reporting.document import Code, Figure, Section, Table, Text, cell


def _table(table: Table) -> list[str]:
    rows = [[cell(v).replace("|", "\\|") for v in row] for row in table.rows]
    lines = ["| " + " | ".join(table.headers) + " |", "|" + "---|" * len(table.headers)]
    return [*lines, *("| " + " | ".join(row) + " |" for row in rows), ""]


def render_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                lines += [block.text, ""]
            elif isinstance(block, Code):
                lines += ["```", block.text, "```", ""]
            elif isinstance(block, Figure):
                lines += [f"![{block.caption}]({block.filename})", "", f"*{block.caption}*", ""]
            else:
                lines += _table(block)
    return "\n".join(lines)
