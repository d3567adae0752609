"""Answers as terminal text: the quotes with [n], the sources, and (`--explain`) why each quote; the
terminal watches' notices."""

from __future__ import annotations

import textwrap

from index.query.answer import single_line
from index.query.watches import Notice
from index.sources.corpus import shown_text
from index.types import Answer
from index.wording import EN, note_text, reason_text


def render_answer(answer: Answer, *, explain: bool = False) -> str:
    """An answer as terminal text: quotes with [n], then the sources (and, with `explain`, why each
    quote was chosen)."""
    lines: list[str] = []
    if answer.abstained:
        lines.append(EN.abstain)
        if answer.reason and answer.reason.kind != "foreign_script":  # the note says it better
            lines.append(reason_text(answer.reason))
        if answer.nearest_titles:
            lines.append(f"{EN.nearest} " + "; ".join(shown_text(t) for t in answer.nearest_titles))
    else:
        for quote in answer.quotes:
            wrapped = textwrap.fill(
                f"“{single_line(quote.text)}” [{quote.n}]", width=100, subsequent_indent="  "
            )
            lines.append(wrapped)
        lines.append("")
        lines.append(EN.sources)
        for quote in answer.quotes:
            where = f", {quote.source}" if quote.source else ""
            span = f"characters {quote.start}-{quote.end}{where}"
            lines.append(f"[{quote.n}] {shown_text(quote.title)} ({shown_text(quote.doc_id)}, {span})")
        if explain and answer.explanations:
            lines += ["", EN.explain_header]
            for why in answer.explanations:
                parts = ", ".join(f"{name} {value:.2f} ({part:+.2f})" for name, value, part in why.features)
                lines.append(
                    textwrap.fill(f"[{why.n}] score {why.score:+.2f}: {parts}", 100, subsequent_indent="  ")
                )
    lines.extend(f"{EN.note} {note_text(note)}" for note in answer.notes)
    return "\n".join(lines)


def render_notice(notice: Notice) -> str:
    """A watch's notice as terminal text: the watch, its new quotes with [n], their sources."""
    lines = [f"watch [{notice.watch_id}] “{single_line(notice.question)}”: new in the articles"]
    for quote in notice.quotes:
        lines.append(
            textwrap.fill(
                f"“{single_line(quote.text)}” [{quote.n}]",
                width=100,
                initial_indent="  ",
                subsequent_indent="    ",
            )
        )
    for quote in notice.quotes:
        dated = f", {quote.date}" if quote.date else ""
        where = f" {quote.source}" if quote.source else ""
        lines.append(f"  [{quote.n}] {shown_text(quote.title)} ({shown_text(quote.doc_id)}{dated}){where}")
    return "\n".join(lines)
