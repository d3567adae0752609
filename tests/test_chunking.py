"""Chunking: exact spans, whole sentences, lead-ins kept with their lists, bounded sizes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.ingest.chunking import ChunkingParams, split, word_count
from index.types import Article

SMALL = ChunkingParams(target_words=25, max_words=40, overlap_words=12)


def article(text: str, body_start: int = 0) -> Article:
    return Article("doc.txt", "Doc", text, body_start, hashlib.sha256(text.encode()).hexdigest())


def test_spans_are_exact_and_sentences_whole() -> None:
    text = " ".join(f"Sentence number {i} says something about topic {i}." for i in range(30))
    units, chunks = split(article(text), SMALL)
    assert len(chunks) > 2
    for piece in [*units, *chunks]:
        assert text[piece.start : piece.end] == piece.text
    for chunk in chunks:
        assert chunk.text.startswith("Sentence number") and chunk.text.endswith(".")
        assert word_count(chunk.text) <= SMALL.max_words


def test_consecutive_chunks_overlap_by_a_short_sentence() -> None:
    text = " ".join(f"Point {i} is made here in a few words." for i in range(20))
    _, chunks = split(article(text), SMALL)
    first, second = chunks[0], chunks[1]
    assert second.start < first.end
    assert text[second.start : first.end].count(".") == 1


def test_lead_in_stays_with_its_list_and_becomes_one_quote() -> None:
    text = (
        "Intro paragraph with several words in it to fill the chunk a little bit more.\n\n"
        "Moscow refused. The official motivation:\n\n"
        "— Systems are too expensive;\n\n"
        "— Equipping own troops is the priority.\n\n"
        "The informal motivation included:\n\n"
        "— Fear of technology leaks;\n\n"
        "— Reluctance to arm Minsk.\n\n"
        "Afterwards another paragraph follows here."
    )
    units, chunks = split(article(text), SMALL)
    lists = [u.text for u in units if u.kind == "list"]
    assert lists[0].startswith("Moscow refused. The official motivation:")
    assert lists[0].endswith("priority.")
    assert lists[1].startswith("The informal motivation included:") and lists[1].endswith("Minsk.")
    for lead_in in ("The official motivation:", "The informal motivation included:"):
        holder = next(c for c in chunks if lead_in in c.text)
        assert holder.text.index(lead_in) + len(lead_in) < len(holder.text), "a lead-in never ends a chunk"


def test_short_heading_stays_with_its_paragraph() -> None:
    filler = " ".join(f"Filler sentence {i} goes on for a while." for i in range(5))
    text = f"{filler}\n\nConclusions.\n\nThe real conclusion is stated in this sentence here."
    units, chunks = split(article(text), SMALL)
    holder = next(c for c in chunks if "Conclusions." in c.text)
    assert "The real conclusion" in holder.text
    assert not any(u.text == "Conclusions." for u in units)


def test_markdown_bullets_and_headings_are_paragraphs() -> None:
    text = "# Title\nReasons:\n- first reason;\n- second reason.\n## Next\nMore text here that ends."
    units, _ = split(article(text), ChunkingParams())
    assert any(u.kind == "list" and u.text == "Reasons:\n- first reason;\n- second reason." for u in units)
    assert not any("# Title" in u.text for u in units)


def test_a_sentence_longer_than_the_budget_is_cut_at_whitespace() -> None:
    text = " ".join(["word"] * 200)
    _, chunks = split(article(text), SMALL)
    assert len(chunks) >= 5
    assert all(word_count(c.text) <= SMALL.max_words for c in chunks)
    assert all(c.text.startswith("word") and c.text.endswith("word") for c in chunks)


def test_body_start_excludes_front_matter() -> None:
    text = "---\ntitle: x\n---\nThe body sentence is here."
    units, chunks = split(article(text, body_start=text.index("The body")), ChunkingParams())
    assert [u.text for u in units] == ["The body sentence is here."]
    assert chunks[0].start == text.index("The body")


def test_empty_body_gives_nothing() -> None:
    assert split(article("   \n\n  "), ChunkingParams()) == ([], [])


_piece = st.one_of(
    st.text(alphabet=st.sampled_from(list("abcXYZ  ....!?:;—-•\n\t1)é中")), max_size=12),
    st.sampled_from(
        ["Mr. Smith said so. ", "— item;\n\n", "Heading\n\n", "Lead-in:\n\n", "\n\n\n", "1) one\n"]
    ),
    st.text(max_size=8),  # any Unicode at all
)
_text = st.lists(_piece, max_size=120).map("".join)


@pytest.mark.slow  # about a second: the full suite holds it, the inner loop skips it
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_text, target=st.integers(20, 60), extra=st.integers(0, 60), overlap=st.integers(0, 30))
def test_property_every_span_maps_back_nothing_lost_sizes_bounded(
    text: str, target: int, extra: int, overlap: int
) -> None:
    params = ChunkingParams(target_words=target, max_words=target + extra, overlap_words=overlap)
    units, chunks = split(article(text), params)
    for piece in [*units, *chunks]:
        assert text[piece.start : piece.end] == piece.text
        assert piece.text == piece.text.strip() and piece.text
    for chunk in chunks:
        assert word_count(chunk.text) <= params.max_words
    covered = [False] * len(text)
    for chunk in chunks:
        for i in range(chunk.start, chunk.end):
            covered[i] = True
    lost = "".join(ch for ch, seen in zip(text, covered, strict=True) if not seen)
    assert not lost.strip(), f"text outside every chunk: {lost.strip()[:40]!r}"
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)


def test_a_unit_has_a_size_limit_however_long_a_word_is() -> None:
    """A "word" of 50,000 characters is cut by characters; its pieces are not joined back into one unit
    (a quote, and what every reader check reads, stays bounded: issue 25)."""
    params = ChunkingParams()
    limit = params.max_words * 12
    for body in ("1," * 25_000, "x" * 50_000, "The port paid a bonus of: " + "1," * 25_000 + " dollars."):
        units, _ = split(article(body), params)
        assert units and all(len(unit.text) <= limit for unit in units)
        assert all(body[u.start : u.end] == u.text for u in units)
