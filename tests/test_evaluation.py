"""The evaluation metrics: answer recall, quote precision, abstention rates, per split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import FootnoteError
from index.evaluation import EvalQuestion, EvalReport, judge, read_questions
from index.types import Answer, Quote

GOLD = "The ferry sank at noon."
BEFORE = "Storms hit the coast on Monday."
AFTER = "Rescuers found every passenger."
FAR = "The harbour was built in 1850."


def quote(n: int, text: str) -> Quote:
    return Quote(n, "a.txt", "A", None, 0, len(text), text, 1.0)


def answer(*texts: str, abstained: bool = False) -> Answer:
    quotes = tuple(quote(i, t) for i, t in enumerate(texts, 1))
    return Answer(question="q", abstained=abstained, text="x", quotes=quotes, passages=())


NEIGHBOURS = {GOLD: (BEFORE, AFTER), BEFORE: ("", GOLD), AFTER: (GOLD,), FAR: ("", "")}


def neighbours(q: Quote) -> tuple[str, ...]:
    return NEIGHBOURS[q.text]


def question(
    gold: tuple[str, ...] = (GOLD,), split: str | None = None, abstain: bool = False
) -> EvalQuestion:
    return EvalQuestion("q1", "When did the ferry sink?", gold, expect_abstain=abstain, split=split)


def test_quote_precision_counts_gold_and_its_direct_neighbours() -> None:
    result = judge(question(), answer(GOLD, AFTER, FAR), 0.1, (1,), neighbours)
    assert result.answer_recall == 1.0
    assert result.quote_precision == pytest.approx(2 / 3)


def test_a_piece_of_a_gold_sentence_is_precise() -> None:
    result = judge(question((f"{GOLD} {AFTER}",)), answer(GOLD), 0.1, (1,))
    assert result.quote_precision == 1.0


def test_quotes_for_an_unanswerable_question_are_imprecise() -> None:
    result = judge(question((), abstain=True), answer(FAR), 0.1, (1,), neighbours)
    assert result.quote_precision == 0.0
    assert not result.abstention_correct


def test_abstention_rates_and_splits() -> None:
    results = (
        judge(question(split="dev"), answer(GOLD), 0.1, (1,)),
        judge(question(split="dev"), answer(abstained=True), 0.1, (1,)),
        judge(question((), "test", abstain=True), answer(abstained=True), 0.1, (1,)),
        judge(question((), "test", abstain=True), answer(FAR), 0.1, (1,)),
    )
    report = EvalReport(results, (1,))
    metrics = report.metrics()
    assert metrics["false_abstention"] == 0.5
    assert metrics["abstention_rate"] == 0.5
    assert metrics["answer_recall"] == 0.5
    assert report.splits() == ["dev", "test"]
    assert report.split("dev").metrics()["false_abstention"] == 0.5
    assert report.split("test").metrics()["abstention_rate"] == 0.5
    assert report.split("test").metrics()["answerable"] == 0


def test_question_files_carry_split_and_doc(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [{"id": "a", "doc": "lee-004.txt", "split": "dev", "question": "Why?", "gold": [GOLD]}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    [parsed] = read_questions(path)
    assert (parsed.split, parsed.doc) == ("dev", "lee-004.txt")
    path.write_text('{"question": ', encoding="utf-8")
    with pytest.raises(FootnoteError, match="line 1"):
        read_questions(path)


@pytest.mark.parametrize("name", ["answerable", "neartopic", "followups"])
@pytest.mark.parametrize("group", ["news", "seed"])
def test_the_shipped_evaluation_files_are_well_formed(group: str, name: str) -> None:
    root = Path(__file__).resolve().parent.parent / "eval"
    questions = read_questions(root / group / f"{name}.jsonl")
    assert questions and all(q.split in {"dev", "test"} for q in questions)
    assert all(q.expect_abstain == (name == "neartopic") for q in questions)
    if group == "seed":
        assert {q.split for q in questions} == {"test"}  # the seed article is held out
    splits: dict[str, set[str | None]] = {}
    for q in questions:
        splits.setdefault(q.doc or "", set()).add(q.split)
    assert all(len(s) == 1 for s in splits.values()), "the split is by article"


def test_the_when_questions_are_well_formed_and_use_articles_no_other_set_uses() -> None:
    news = Path(__file__).resolve().parent.parent / "eval" / "news"
    questions = read_questions(news / "when.jsonl")
    assert questions and all(q.expect_abstain == (not q.gold) for q in questions)
    splits: dict[str, set[str | None]] = {}
    for q in questions:
        splits.setdefault(q.doc or "", set()).add(q.split)
    assert all(len(s) == 1 for s in splits.values()), "the split is by article"
    used = {
        q.doc
        for name in ("answerable", "neartopic", "followups")
        for q in read_questions(news / f"{name}.jsonl")
    }
    assert not used & set(splits), "articles no other question uses"


@pytest.mark.parametrize(
    ("folder", "file", "split"), [("ru", "reader", "test"), ("ru-dev", "questions", "dev")]
)
def test_the_russian_reader_sets_quote_their_articles_verbatim(folder: str, file: str, split: str) -> None:
    corpus = Path(__file__).resolve().parent.parent / "eval" / "corpora" / folder
    questions = read_questions(corpus / f"{file}.jsonl")
    assert questions and {q.split for q in questions} == {split}
    assert all(q.expect_abstain == (not q.gold) for q in questions)
    for q in questions:
        assert q.doc, q.id
        text = (corpus / q.doc).read_text(encoding="utf-8")
        assert all(gold in text for gold in q.gold), q.id


def test_the_two_fact_questions_quote_two_sentences_verbatim_and_keep_each_articles_split() -> None:
    news = Path(__file__).resolve().parent.parent / "eval" / "news"
    questions = read_questions(news / "twofact.jsonl")
    assert len(questions) >= 200
    known = {
        q.doc: q.split
        for name in ("answerable", "neartopic", "followups", "when")
        for q in read_questions(news / f"{name}.jsonl")
    }
    for q in questions:
        assert q.doc and len(q.gold) == 2 and not q.expect_abstain, q.id
        text = (news / "articles" / q.doc).read_text(encoding="utf-8")
        assert all(gold in text for gold in q.gold), q.id
        assert known.get(q.doc, q.split) == q.split, f"{q.id}: an article keeps one split"
