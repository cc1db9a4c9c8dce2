"""report.md as one self-contained HTML fragment (reports/report.html), for the first page of
`snakemake --report`: its tables as tables and its figures inlined as data URIs, so that the page
needs no file beside it. Markdown is read by markdown-it-py (CommonMark with GitHub's tables); the
style is scoped under one class, so that it leaves the page around it as it is."""
from __future__ import annotations

import base64
import re
from pathlib import Path

WRAPPER = "pmtiqa-report"
# Snakemake's page quotes inline code with backticks of its own: the report's code spans need none.
STYLE = f"""
.{WRAPPER} {{ font-family: system-ui, sans-serif; font-size: 14px; line-height: 1.45; max-width: 1200px; }}
.{WRAPPER} table {{ border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 13px; }}
.{WRAPPER} th, .{WRAPPER} td {{ border: 1px solid #c8c8c8; padding: 3px 8px; text-align: left; }}
.{WRAPPER} th {{ background: #f0f0f0; }}
.{WRAPPER} tr:nth-child(even) td {{ background: #fafafa; }}
.{WRAPPER} img {{ max-width: 100%; height: auto; display: block; margin: 0.5em 0 1.5em; }}
.{WRAPPER} code {{ background: #f3f3f3; padding: 0 3px; border-radius: 3px; font-weight: normal; }}
.{WRAPPER} code::before, .{WRAPPER} code::after {{ content: none; }}
.{WRAPPER} td {{ vertical-align: top; }}
.{WRAPPER} h1 {{ font-size: 1.6em; }} .{WRAPPER} h2 {{ font-size: 1.3em; margin-top: 1.6em; }}
.{WRAPPER} h3 {{ font-size: 1.1em; }}
"""
IMAGE = re.compile(r'<img src="([^"]+\.png)"')


def inline_figures(html: str, folder: Path) -> str:
    """Every PNG the page names relative to ``folder`` replaced by its bytes as a data URI."""
    def data_uri(found: re.Match) -> str:
        png = base64.b64encode((folder / found.group(1)).read_bytes()).decode("ascii")
        return f'<img src="data:image/png;base64,{png}"'
    return IMAGE.sub(data_uri, html)


def report_html(markdown: str, folder: Path) -> str:
    """The fragment: a charset, the scoped style and the rendered report, figures read from ``folder``."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (f'<meta charset="utf-8">\n<style>{STYLE}</style>\n<div class="{WRAPPER}">\n'
            f"{inline_figures(body, folder)}</div>\n")
