"""Step 2: an `Article` -> quotable `Unit`s and retrievable `Chunk`s, both as exact spans of its text.

The article body is read as paragraphs (blank-line separated; list items and Markdown headings are
paragraphs of their own) and sentences (sentencex). Some sentences must stay with what follows them:
a lead-in ending in ':' stays with its list, a short run-in heading ("Conclusions.") with its sentence,
a heading line with its paragraph. Chunks are packed from these indivisible blocks up to a word budget,
preferring paragraph breaks, never cutting a sentence (a sentence longer than the budget is the one
exception: it is cut at whitespace). Consecutive chunks overlap by one short sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from config.defaults import CHUNK_MAX_WORDS, CHUNK_OVERLAP_WORDS, CHUNK_TARGET_WORDS
from index.types import Article, Chunk, Unit

# Both are used at a line's start; the look-behind keeps a search over a long run of blanks linear.
_BULLET = re.compile(r"(?<![ \t])[ \t]*(?:[-–—•*·▪►‣◦]|\d{1,3}[.)]|[a-z]\))[ \t]+")
_HEADING = re.compile(r"(?<![ \t])[ \t]*#{1,6}[ \t]")
_SENTENCE_END = re.compile(r"[.!?;…][\"'”’»)\]]*\Z")
_WORD = re.compile(r"\S+")
_CHARS_PER_WORD = 12  # hard cap for text without spaces (CJK, URLs): max_words * this many characters


@dataclass(frozen=True, slots=True)
class ChunkingParams:
    """The knobs of chunking; recorded in the index manifest (a change means a full rebuild)."""

    target_words: int = CHUNK_TARGET_WORDS
    max_words: int = CHUNK_MAX_WORDS
    overlap_words: int = CHUNK_OVERLAP_WORDS
    short_words: int = 3
    heading_words: int = 12
    max_list_words: int = 100


def chunking_record(params: ChunkingParams) -> dict[str, int]:
    """The chunking parameters as the manifest records them."""
    return {key: int(value) for key, value in asdict(params).items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Atom:
    start: int
    end: int
    words: int
    paragraph: int
    is_item: bool
    is_heading: bool
    lead_in: bool


def split(article: Article, params: ChunkingParams) -> tuple[list[Unit], list[Chunk]]:
    """Cut an article into quotable units and retrievable chunks."""
    atoms = _atoms(article, params)
    if not atoms:
        return [], []
    glue = _glue(atoms, params)
    units = _units(article, atoms, params)
    chunks = _chunks(article, atoms, glue, params)
    return units, chunks


def word_count(text: str) -> int:
    """Words as Footnote counts them (runs of non-space characters)."""
    return len(text.split())


# -- paragraphs and sentences ---------------------------------------------------------------------


def _paragraphs(text: str, start: int) -> list[tuple[int, int, bool, bool]]:
    """(start, end, is_item, is_heading) of each paragraph after `start`, whitespace trimmed."""
    paragraphs: list[tuple[int, int, bool, bool]] = []
    current: list[tuple[int, int]] = []

    def close() -> None:
        if current:
            first, last = current[0], current[-1]
            para_start = first[0] + _leading_space(text[first[0] : first[1]])
            para_end = last[1] - _trailing_space(text[last[0] : last[1]])
            line = text[first[0] : first[1]]
            paragraphs.append((para_start, para_end, bool(_BULLET.match(line)), bool(_HEADING.match(line))))
            current.clear()

    position = start
    for line in text[start:].splitlines(keepends=True):
        line_start, position = position, position + len(line)
        content = line.rstrip("\r\n")
        if not content.strip():
            close()
            continue
        if _BULLET.match(content) or _HEADING.match(content) or (current and _is_heading_line(text, current)):
            close()
        current.append((line_start, line_start + len(content)))
    close()
    return paragraphs


def _is_heading_line(text: str, lines: list[tuple[int, int]]) -> bool:
    first = lines[0]
    return len(lines) == 1 and bool(_HEADING.match(text[first[0] : first[1]]))


def _leading_space(s: str) -> int:
    return len(s) - len(s.lstrip())


def _trailing_space(s: str) -> int:
    return len(s) - len(s.rstrip())


def _sentences(text: str, start: int, end: int, language: str) -> list[tuple[int, int]]:
    """Sentence spans inside text[start:end], trimmed; falls back to the whole span if unsure."""
    from sentencex import segment

    spans = []
    cursor = start
    for piece in segment(language, text[start:end]):
        found = text.find(piece, cursor, end) if piece else -1
        if found < 0:
            stripped = piece.strip()
            found = text.find(stripped, cursor, end) if stripped else -1
            piece = stripped
        if found < 0:
            return [(start, end)]
        cursor = found + len(piece)
        lead, trail = _leading_space(piece), _trailing_space(piece)
        if len(piece) - lead - trail > 0:
            spans.append((found + lead, cursor - trail))
    return spans or [(start, end)]


def _hard_split(text: str, start: int, end: int, params: ChunkingParams) -> list[tuple[int, int]]:
    """Cut an overlong sentence at whitespace so each piece fits the chunk budget."""
    max_chars = params.max_words * _CHARS_PER_WORD
    if word_count(text[start:end]) <= params.max_words and end - start <= max_chars:
        return [(start, end)]
    pieces: list[tuple[int, int]] = []
    piece_start, piece_end, words = -1, -1, 0
    for match in _WORD.finditer(text, start, end):
        w_start, w_end = match.span()
        while w_end - w_start > max_chars:  # one "word" longer than the budget: cut it by characters
            if piece_start >= 0:
                pieces.append((piece_start, piece_end))
                piece_start, words = -1, 0
            pieces.append((w_start, w_start + max_chars))
            w_start += max_chars
        if piece_start >= 0 and (words + 1 > params.max_words or w_end - piece_start > max_chars):
            pieces.append((piece_start, piece_end))
            piece_start, words = -1, 0
        if piece_start < 0:
            piece_start = w_start
        piece_end, words = w_end, words + 1
    if piece_start >= 0:
        pieces.append((piece_start, piece_end))
    return pieces


def _atoms(article: Article, params: ChunkingParams) -> list[_Atom]:
    language = (article.lang or "en").split("-")[0].lower()
    text = article.text
    atoms = []
    for number, (p_start, p_end, is_item, is_heading) in enumerate(_paragraphs(text, article.body_start)):
        sentences = [(p_start, p_end)] if is_heading else _sentences(text, p_start, p_end, language)
        for s_start, s_end in sentences:
            for a_start, a_end in _hard_split(text, s_start, s_end, params):
                chunk_text = text[a_start:a_end]
                atoms.append(
                    _Atom(
                        start=a_start,
                        end=a_end,
                        words=word_count(chunk_text),
                        paragraph=number,
                        is_item=is_item,
                        is_heading=is_heading,
                        lead_in=chunk_text.rstrip().endswith(":"),
                    )
                )
    return _mark_headings(text, atoms, params)


def _mark_headings(text: str, atoms: list[_Atom], params: ChunkingParams) -> list[_Atom]:
    """A short one-line paragraph without sentence punctuation is a heading too (plain-text titles)."""
    per_paragraph: dict[int, int] = {}
    for atom in atoms:
        per_paragraph[atom.paragraph] = per_paragraph.get(atom.paragraph, 0) + 1
    marked = []
    for atom in atoms:
        heading = atom.is_heading or (
            per_paragraph[atom.paragraph] == 1
            and not atom.is_item
            and atom.words <= params.heading_words
            and not _SENTENCE_END.search(text[atom.start : atom.end])
            and not atom.lead_in
        )
        marked.append(_replace_heading(atom, heading=heading))
    return marked


def _replace_heading(atom: _Atom, *, heading: bool) -> _Atom:
    if heading == atom.is_heading:
        return atom
    return replace(atom, is_heading=heading)


# -- what must stay together ------------------------------------------------------------------------


def _glue(atoms: list[_Atom], params: ChunkingParams) -> list[bool]:
    """glue[i]: atom i must stay in the same chunk as atom i + 1."""
    glue = []
    for i, atom in enumerate(atoms):
        nxt = atoms[i + 1] if i + 1 < len(atoms) else None
        if nxt is None:
            glue.append(False)
        elif atom.lead_in or atom.is_heading or atom.words <= params.short_words:
            glue.append(True)
        else:
            # A list stays with its lead-in: the items after a lead-in are glued to each other.
            glue.append(atom.is_item and nxt.is_item and _list_has_lead_in(atoms, i))
    return glue


def _list_has_lead_in(atoms: list[_Atom], i: int) -> bool:
    j = i
    while j >= 0 and atoms[j].is_item:
        j -= 1
    return j >= 0 and atoms[j].lead_in


def _runs(glue: list[bool]) -> Iterable[tuple[int, int]]:
    """Maximal [first, last] index runs of glued atoms."""
    first = 0
    for i, glued in enumerate(glue):
        if not glued:
            yield first, i
            first = i + 1


# -- quotable units -------------------------------------------------------------------------------


def _units(article: Article, atoms: list[_Atom], params: ChunkingParams) -> list[Unit]:
    """Sentences (a short run-in one joined to the next) and lead-in + list groups small enough to quote."""
    units: list[Unit] = []
    # A unit is quoted whole: however its atoms were cut (a 50,000-character "word" is cut by characters),
    # joining them back never makes one longer than a chunk may be.
    max_chars = params.max_words * _CHARS_PER_WORD
    i = 0
    while i < len(atoms):
        atom = atoms[i]
        if atom.is_heading:
            i += 1
            continue
        j = i
        # short run-in sentences ("Moscow refused.") lead into what follows in the same paragraph or list
        while (
            j + 1 < len(atoms)
            and atoms[j].words <= params.short_words
            and not atoms[j].lead_in
            and not atoms[j + 1].is_heading
            and atoms[j + 1].end - atom.start <= max_chars
        ):
            j += 1
        if atoms[j].lead_in and j + 1 < len(atoms) and atoms[j + 1].is_item:
            last = j + 1
            while last + 1 < len(atoms) and atoms[last + 1].is_item:
                last += 1
            words = sum(a.words for a in atoms[i : last + 1])
            if words <= params.max_list_words and atoms[last].end - atom.start <= max_chars:
                units.append(_unit(article, atoms[i].start, atoms[last].end, "list"))
                i = last + 1
                continue
            j += 1  # too long to quote whole: the lead-in is quoted with the first item, the rest one by one
        units.append(_unit(article, atoms[i].start, atoms[j].end, "sentence"))
        i = j + 1
    return units


def _unit(article: Article, start: int, end: int, kind: str) -> Unit:
    return Unit(article.doc_id, start, end, article.text[start:end], "list" if kind == "list" else "sentence")


# -- chunks --------------------------------------------------------------------------------------


def _chunks(article: Article, atoms: list[_Atom], glue: list[bool], params: ChunkingParams) -> list[Chunk]:
    blocks = _fit_blocks(atoms, list(_runs(glue)), params)
    spans: list[tuple[int, int]] = []
    current: list[tuple[int, int]] = []

    def words(block_list: list[tuple[int, int]]) -> int:
        return sum(atoms[k].words for first, last in block_list for k in range(first, last + 1))

    for position, block in enumerate(blocks):
        if current:
            starts_paragraph = atoms[block[0]].paragraph != atoms[block[0] - 1].paragraph
            too_big = words(current) + words([block]) > params.max_words
            full = words(current) >= params.target_words and starts_paragraph
            # Lists that follow one another (official / informal reasons) belong together: break before
            # them rather than between them when they fit a chunk of their own.
            section = _list_section(atoms, blocks, position)
            early = (
                starts_paragraph
                and len(section) > 1
                and words(current) >= params.target_words // 2
                and words(current) + words(section) > params.max_words >= words(section)
            )
            if too_big or full or early:
                spans.append((current[0][0], current[-1][1]))
                tail = current[-1]
                # Overlap: the next chunk repeats the previous chunk's last sentence when it is short.
                carry = (
                    tail[0] == tail[1]
                    and words([tail]) <= params.overlap_words
                    and words([tail, *(section if early else [block])]) <= params.max_words
                )
                current = [tail] if carry else []
        current.append(block)
    if current:
        spans.append((current[0][0], current[-1][1]))
    return [
        Chunk(
            article.doc_id,
            atoms[first].start,
            atoms[last].end,
            article.text[atoms[first].start : atoms[last].end],
        )
        for first, last in spans
    ]


def _list_section(atoms: list[_Atom], blocks: list[tuple[int, int]], position: int) -> list[tuple[int, int]]:
    """The block at `position` and the lead-in + list blocks directly after it, if it is one itself."""
    section = []
    for block in blocks[position:]:
        if not _is_list_block(atoms, block):
            break
        section.append(block)
    return section


def _is_list_block(atoms: list[_Atom], block: tuple[int, int]) -> bool:
    first, last = block
    return any(atoms[k].lead_in and atoms[k + 1].is_item for k in range(first, last))


def _fit_blocks(
    atoms: list[_Atom], runs: Iterable[tuple[int, int]], params: ChunkingParams
) -> list[tuple[int, int]]:
    """Break glued runs that alone exceed the chunk budget (a very long list) into budget-sized pieces."""
    blocks = []
    for first, last in runs:
        piece_first, words = first, 0
        for k in range(first, last + 1):
            if k > piece_first and words + atoms[k].words > params.max_words:
                blocks.append((piece_first, k - 1))
                piece_first, words = k, 0
            words += atoms[k].words
        blocks.append((piece_first, last))
    return blocks
