"""Telegram rendering: escaping, limits, splitting between quotes and never inside a tag; log redaction."""

from __future__ import annotations

import io
import logging
from html import escape
from html.parser import HTMLParser
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import messages, render
from bot.app import RedactSecrets, file_url
from bot.messages import RU
from index.types import Answer, Chunk, Note, Passage, Quote, Reason
from index.wording import reason_text

ALLOWED_TAGS = {"b", "i", "a", "code", "blockquote"}


class TagChecker(HTMLParser):
    """Fails on unknown or unbalanced tags: what Telegram's HTML parser would reject."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, f"unexpected tag <{tag}>"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_entityref(self, name: str) -> None:
        assert name in {"lt", "gt", "amp", "quot"}, f"unknown entity &{name};"


def well_formed(text: str) -> None:
    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    assert render.utf16_len(text) <= render.MAX_MESSAGE


def quote(n: int, text: str, title: str = "T <b>", source: str | None = "https://ex.org/?a=1&b=<2>") -> Quote:
    return Quote(n, "d.md", title, source, 0, len(text), text, 0.5)


def answer_of(*quotes: Quote) -> Answer:
    passage = Passage(1, 0, "d.md", "T", None, 0, 10, "passage", 0.1, 0.5, 0.0)
    return Answer(question="q?", abstained=False, text="a", quotes=quotes, passages=(passage,))


def test_everything_inserted_is_escaped() -> None:
    nasty = "Use <script>alert(1)</script> & <b>bold</b> &amp; @everyone /start"
    rendered = render.render_answer(answer_of(quote(1, nasty)), "abcd1234")
    [text] = rendered.texts
    well_formed(text)
    assert "&lt;script&gt;" in text and "&amp;amp;" in text
    assert 'href="https://ex.org/?a=1&amp;b=&lt;2&gt;#:~:text=Use%20%3Cscript%3Ealert' in text
    assert "T &lt;b&gt;" in text


def test_long_answers_split_between_quotes_and_oversized_quotes_into_blockquotes() -> None:
    quotes = [quote(n, f"Sentence {n} is long. " * 80) for n in range(1, 5)]
    quotes.append(quote(5, "One enormous paragraph with words & signs < > " * 300))
    rendered = render.render_answer(answer_of(*quotes), "abcd1234")
    assert len(rendered.texts) > 2
    for text in rendered.texts:
        well_formed(text)
    joined = "".join(rendered.texts)
    assert all(f"<b>[{n}]</b>" in joined for n in range(1, 6))
    assert rendered.texts[-1].rstrip().endswith("</a>"), "sources close the answer"


def test_abstention_has_titles_and_no_quotes() -> None:
    answer = Answer(
        question="q",
        abstained=True,
        text="x",
        quotes=(),
        passages=(),
        nearest_titles=("A <title>",),
        notes=(Note.FOREIGN_SCRIPT,),
    )
    rendered = render.render_answer(answer, "abcd1234")
    well_formed(rendered.texts[0])
    assert "A &lt;title&gt;" in rendered.texts[0] and "<blockquote" not in rendered.texts[0]
    assert "reads English only" in rendered.texts[0], "a note is worded by its code"
    [russian] = render.render_answer(answer, "abcd1234", RU).texts
    assert "понимает только английский" in russian


def test_abstention_says_why_in_the_readers_language() -> None:
    reason = Reason("unknown_terms", ("Lukashenko", "<b>"))
    answer = Answer(
        question="q", abstained=True, text="x", quotes=(), passages=(), nearest_titles=("A",), reason=reason
    )
    english = render.render_answer(answer, "abcd1234").texts[0]
    russian = render.render_answer(answer, "abcd1234", RU).texts[0]
    well_formed(english)
    well_formed(russian)
    assert "The articles do not mention “Lukashenko” or “&lt;b&gt;”." in english
    assert "В статьях нет упоминаний: «Lukashenko» или «&lt;b&gt;»." in russian
    plain = Answer(question="q", abstained=True, text="x", quotes=(), passages=(), reason=Reason("no_answer"))
    assert reason_text(Reason("no_answer"), "ru") in render.render_answer(plain, "abcd1234", RU).texts[0]


def test_passage_view_bolds_the_quote_in_context_and_fits() -> None:
    before, body, after = "Context before. " * 400, "The quoted sentence.", " Context after." * 400
    text = before + body + after
    q = Quote(1, "d.md", "T", None, len(before), len(before) + len(body), body, 0.5)
    view = render.passage_view(q, Chunk("d.md", 0, len(text), text), text)
    well_formed(view)
    assert "<b>The quoted sentence.</b>" in view and "Context before." in view and "Context after." in view


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=3000), min_size=1, max_size=6), st.text(max_size=300))
def test_property_any_text_renders_to_valid_messages(texts: list[str], title: str) -> None:
    quotes = [quote(n, t, title=title or "t") for n, t in enumerate(texts, 1)]
    for text in render.render_answer(answer_of(*quotes), "abcd1234").texts:
        well_formed(text)


EMOJI_SENTENCE = "Families 👨‍👩‍👧 & friends <3 “quotes” 😀🎉 — done. "
PIECES = ["&", "<", ">", '"', "'", "😀", "👨‍👩‍👧", "a", " ", ".", "\n"]
ESCAPED = st.lists(st.sampled_from(PIECES)).map("".join)


class MeasuredTooOften(AssertionError):
    pass


def bounded_measuring(limit: int = 200_000) -> mock._patch[object]:
    """Patch render.utf16_len to fail after `limit` calls: a loop that never ends fails instead of hanging."""
    calls = [0]
    real = render.utf16_len

    def counted(text: str) -> int:
        calls[0] += 1
        if calls[0] > limit:
            raise MeasuredTooOften(f"still measuring after {limit} calls: the trimming does not terminate")
        return real(text)

    return mock.patch.object(render, "utf16_len", counted)


def filled(pattern: str, units: int) -> str:
    """`pattern` repeated and cut so that its escaped form takes at most `units` UTF-16 units."""
    text = pattern * (units // max(1, render.utf16_len(escape(pattern[:1]))) + 1)
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if render.utf16_len(escape(text[:middle])) <= units:
            low = middle
        else:
            high = middle - 1
    return text[:low]


@settings(max_examples=150, deadline=None)
@given(
    title=ESCAPED.map(lambda t: t * 40 if t else "&"),
    sentence=ESCAPED.map(lambda t: EMOJI_SENTENCE + t),
    before=ESCAPED.map(lambda t: (t + EMOJI_SENTENCE) * 30),
    after=ESCAPED.map(lambda t: (EMOJI_SENTENCE + t) * 30),
    slack=st.integers(-60, 80),
)
@pytest.mark.slow  # over a second: the full suite holds it, the inner loop skips it
@example(title="&" * 250, sentence=EMOJI_SENTENCE, before="Words before. " * 50, after=" after.", slack=12)
@example(title="&" * 250, sentence=EMOJI_SENTENCE, before="x", after="y" * 9, slack=3)
def test_property_passage_view_terminates_and_fits(
    title: str, sentence: str, before: str, after: str, slack: int
) -> None:
    """Whatever the title and the text around it, and however little room the quote leaves."""
    header = f"📖 <b>[3]</b> {render.link(title, 'https://ex.org/?a=1&b=2')}\n\n"
    room = render.MAX_MESSAGE - render.utf16_len(header) - slack  # the quote fills nearly all the room
    body = filled(sentence, max(1, room)).strip() or "x"
    text = before + body + after
    q = Quote(3, "d.md", title, "https://ex.org/?a=1&b=2", len(before), len(before) + len(body), body, 0.5)
    with bounded_measuring():
        view = render.passage_view(q, Chunk("d.md", 0, len(text), text), text)
    well_formed(view)
    assert view.startswith("📖 <b>[3]</b>") and "<b>" in view


NASTY = st.text(alphabet=st.sampled_from(["&", "<", ">", '"', "'", "😀", "a", " "]), max_size=400)


@settings(max_examples=80, deadline=None)
@given(
    titles=st.lists(
        st.tuples(NASTY, NASTY, st.one_of(st.none(), NASTY.map(lambda t: "https://ex.org/" + t))),
        min_size=1,
        max_size=25,
    ),
    page=st.integers(0, 3),
    written=st.lists(NASTY, max_size=30),
    problems=st.lists(NASTY, max_size=60),
)
def test_property_sources_and_admin_reports_fit_one_message(
    titles: list[tuple[str, str, str | None]], page: int, written: list[str], problems: list[str]
) -> None:
    """/sources pages, /add results, reindex outcomes with skipped files, feed-sync notes: <= 4096 units."""
    for texts in (messages.EN, messages.RU):
        well_formed(render.sources_page(titles, page, texts).texts[0])
    prefix = render.add_report(written, problems) + "\n"
    well_formed(prefix)
    for outcome in (
        messages.REINDEX_STARTED,
        messages.REINDEX_PROGRESS.format(done=10**9, total=10**9),
        messages.REINDEX_BUSY,
        messages.REINDEX_FAILED.format(reason="IndexCorruptError"),
    ):
        well_formed(prefix + outcome)
    summary = "added 1, changed 2, removed 3, unchanged 4"
    done = messages.REINDEX_DONE.format(summary=summary)
    report = render.reindex_report(prefix, done, problems)
    well_formed(report)
    assert report.startswith(prefix + done)
    well_formed(render.sync_report(summary, written))
    titles_only = tuple(title for _, title, _ in titles)
    for texts in (messages.EN, messages.RU):
        abstained = Answer(
            question="q",
            abstained=True,
            text="x",
            quotes=(),
            passages=(),
            nearest_titles=titles_only[:5],
            notes=(Note.FOREIGN_SCRIPT,),
        )
        [text] = render.render_answer(abstained, "abcd1234", texts).texts
        well_formed(text)
        examples = [texts.example.format(title=title) for title in titles_only[:2]]
        well_formed(messages.start(texts, len(titles), examples))


def test_file_url_follows_the_api_url() -> None:
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://localhost:8081/bot") == "http://localhost:8081/file/bot"


@pytest.mark.parametrize("secret", ["123456:AAE-secret_token"])
def test_secrets_are_redacted_from_messages_and_tracebacks(secret: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets([secret]))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("POST https://api.telegram.org/bot%s/getMe", secret)
        try:
            raise RuntimeError(f"failed https://api.telegram.org/bot{secret}/sendMessage")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert secret not in output
    assert output.count("[REDACTED]") == 2


def test_text_fragments_point_at_the_quote() -> None:
    url = render.text_fragment(
        "https://ex.org/a", "Self-made missiles, and more: a list of 12 words or so here"
    )
    assert url == "https://ex.org/a#:~:text=Self%2Dmade%20missiles%2C%20and%20more%3A%20a%20list%20of%2012"
    assert render.text_fragment("https://ex.org/a#part", "x") == "https://ex.org/a#part"
    assert render.text_fragment(None, "x") is None
    dated = Quote(1, "d.md", "T", "https://ex.org/a", 0, 8, "A quote.", 0.5, "2024-05-20")
    [text] = render.render_answer(answer_of(dated), "abcd1234").texts
    assert "<i>(2024-05-20)</i>" in text, "readers see how current each source is"


def test_a_missing_number_sum_or_name_is_said_in_the_readers_language() -> None:
    for terms, english, russian in [
        (("number",), "do not give the number asked for", "нет числа, о котором спрошено"),
        (("money",), "do not give the sum asked for", "нет суммы, о которой спрошено"),
        (("name",), "do not give the name asked for", "нет имени, о котором спрошено"),
    ]:
        answer = Answer(
            question="q",
            abstained=True,
            text="x",
            quotes=(),
            passages=(),
            reason=Reason("missing_slot", terms),
        )
        assert english in render.render_answer(answer, "abcd1234").texts[0]
        assert russian in render.render_answer(answer, "abcd1234", RU).texts[0]


HOSTILE_TITLE = "Invoice\u202efdp.exe\x85 and\x9b31m red\u2066 text\u200f"


def test_titles_and_labels_never_show_bidirectional_or_c1_controls() -> None:
    """Issue 25: an RTL override or a C1 control in a title is stripped wherever a title is shown."""
    controls = set("\u202e\x85\x9b\u2066\u200f")
    shown = render.link(HOSTILE_TITLE, "https://x.example/a")
    assert not controls & set(shown) and "Invoice fdp.exe and 31m red text" in shown
    page = render.sources_page([("doc\u202e.md", HOSTILE_TITLE, None)], 0)
    assert not controls & set(page.texts[0])
    from telegram import Chat

    from bot.channels import label

    assert label(Chat(-1001, "channel", title="News\u202e\x85")) == "News"
