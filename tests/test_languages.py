"""Languages: detection, the `auto` embedder choice, per-language analysis, Russian corpora end to end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from index.ingest import indexing
from index.ingest.chunking import ChunkingParams
from index.ingest.embedding import E5Embedder, HashingEmbedder, MiniLMEmbedder
from index.ingest.indexing import EmbedderChoice
from index.languages import (
    LanguageMix,
    choose_embedder,
    detect,
    normalise,
    question_language,
)
from index.pipeline import Pipeline
from index.query.lexical import Analyzer, LexicalIndex
from index.storage import store
from index.storage.faiss_store import FaissStore
from tests.helpers import ROOT, make_settings

RU = ROOT / "eval" / "corpora" / "ru"
ENGLISH_TEXT = (
    "Apples grow on trees in orchards. Farmers pick apples in autumn when they are ripe and red. "
    "The harvest is sold at markets in town, and the rest is pressed into cider over the winter."
)
RUSSIAN_TEXT = (
    "Яблоки растут на деревьях в садах. Фермеры собирают яблоки осенью, когда они созревают. "
    "Урожай продают на городских рынках, а остаток зимой перерабатывают в сидр."
)


def test_front_matter_languages_are_normalised() -> None:
    assert [normalise(v) for v in ("ru", "ru-RU", "Russian", "be_BY", "", None, "klingon")] == [
        "ru",
        "ru",
        "ru",
        "be",
        None,
        None,
        None,
    ]


def test_detection_tells_russian_belarusian_ukrainian_and_short_english_questions() -> None:
    assert detect(RUSSIAN_TEXT) == "ru"
    assert detect(ENGLISH_TEXT) == "en"
    assert question_language("Почему Москва отказалась?", {"en"}) == "ru"
    assert question_language("Чаму Масква адмовілася?", {"ru"}) == "be"
    assert question_language("Чому Москва відмовилася?", {"ru"}) == "uk"
    # Too short for a detector over all languages (it says German): English unless the corpus has others.
    assert question_language("What is the Tochka-U?", {"ru"}) == "en"


def test_auto_switches_at_ten_percent_and_returns_only_below_five() -> None:
    english = LanguageMix.of([("en", 950), ("ru", 50)])
    mixed = LanguageMix.of([("en", 900), ("ru", 100)])
    assert choose_embedder(english).name == "minilm"
    assert choose_embedder(mixed).name == "e5-multilingual"
    assert "10% of the text is not English (en 90%, ru 10%)" in choose_embedder(mixed).reason
    # Hovering around the line does not rebuild on every edit.
    assert choose_embedder(LanguageMix.of([("en", 930), ("ru", 70)]), "e5-multilingual").name == (
        "e5-multilingual"
    )
    assert choose_embedder(LanguageMix.of([("en", 960), ("ru", 40)]), "e5-multilingual").name == "minilm"
    assert choose_embedder(LanguageMix()).name == "minilm"


def test_each_article_is_stemmed_in_its_own_language() -> None:
    lexical = LexicalIndex(
        ["Литва закрыла транзит калийных удобрений через Клайпеду.", "Farmers pick ripe apples."],
        ["ru", "en"],
    )
    # Other inflections of the same Russian words match (the English stemmer leaves Cyrillic alone).
    assert lexical.scores("калийные удобрения")[0] > 0
    assert lexical.question_language("Почему закрыли транзит удобрений?") == "ru"
    assert lexical.scores("When are apples picked?")[1] > 0
    # A name in Latin script inside a Russian question is an English word.
    assert Analyzer("ru").words("Сколько стоят apples?") == ["скольк", "сто", "appl"]


def _choose_hashing(mix: LanguageMix, previous: str | None) -> EmbedderChoice:
    """The `auto` rule with model-free embedders: a different dimension stands for each model."""
    choice = choose_embedder(mix, previous)
    dim = 256 if choice.name == "minilm" else 128
    return EmbedderChoice(HashingEmbedder(dim), choice.name, choice.reason, auto=True)


def test_languages_changing_enough_to_flip_the_choice_rebuild_with_the_reason(
    tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    seeds, index_dir = tmp_path / "seeds", tmp_path / "index"
    write_article("apples.md", ENGLISH_TEXT * 3, title="Apples")
    params = ChunkingParams()
    first = indexing.build(seeds, index_dir, None, params, FaissStore(), choose=_choose_hashing)
    assert first.embedder == "minilm" and "100% English" in (first.embedder_reason or "")
    manifest = store.read_manifest(store.serving_generation(index_dir))
    assert manifest.embedder_name == "minilm" and manifest.languages == {"en": 1.0}
    assert manifest.documents["apples.md"].lang == "en"

    write_article("yabloki.md", RUSSIAN_TEXT)  # no front matter: detected
    second = indexing.build(seeds, index_dir, None, params, FaissStore(), choose=_choose_hashing)
    assert second.embedder == "e5-multilingual"
    assert second.rebuild_reason is not None
    assert "languages call for another embedder" in second.rebuild_reason
    assert "not English" in second.rebuild_reason
    assert sorted(second.added) == ["apples.md", "yabloki.md"]
    manifest = store.read_manifest(store.serving_generation(index_dir))
    assert manifest.embedder_name == "e5-multilingual" and set(manifest.languages) == {"en", "ru"}

    third = indexing.build(seeds, index_dir, None, params, FaissStore(), choose=_choose_hashing)
    assert not third.wrote and third.rebuild_reason is None  # recorded languages: nothing re-detected


def test_explicit_embedder_is_kept_and_said(tmp_path: Path, write_article: Callable[..., Path]) -> None:
    write_article("yabloki.md", RUSSIAN_TEXT, lang="ru")
    settings = make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embedder="hashing")
    report = Pipeline(settings).build_index()
    assert report.embedder == "hashing"
    assert report.embedder_reason == "set: FOOTNOTE_EMBEDDER=hashing"


@pytest.mark.model
def test_a_russian_folder_with_default_settings_answers_russian_and_english_questions(
    tmp_path: Path, e5: E5Embedder
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("kaliy-tranzit.md", "aes-ostrovec.md"):
        shutil.copy(RU / name, seeds / name)
    footnote = Pipeline(
        make_settings(seeds_dir=seeds, index_dir=tmp_path / "index"), models={"e5-multilingual": e5}
    )
    report = footnote.build_index()
    assert report.embedder == "e5-multilingual"
    engine = footnote.open_engine()
    assert engine.embedder is e5

    asked = {
        "Почему Беларусь больше не может вывозить калий через Клайпеду?": "kaliy-tranzit.md",
        "Why can Belarus no longer ship potash through Klaipeda?": "kaliy-tranzit.md",
        "Кто построил атомную станцию в Островце и на какие деньги?": "aes-ostrovec.md",
        "How was the construction of the nuclear power plant financed?": "aes-ostrovec.md",
    }
    for question, doc_id in asked.items():
        answer = engine.ask(question)
        assert not answer.abstained, question
        assert answer.quotes[0].doc_id == doc_id, question
    for question in ("При какой температуре кипит вода?", "How do I bake sourdough bread?"):
        assert engine.ask(question).abstained, question


@pytest.mark.model
def test_an_english_folder_with_default_settings_keeps_minilm(
    tmp_path: Path, write_article: Callable[..., Path], minilm: MiniLMEmbedder
) -> None:
    write_article("apples.md", ENGLISH_TEXT, title="Apples")
    write_article("trains.txt", "Trains\n\nTrains run on rails between stations. Electric trains are quiet.")
    footnote = Pipeline(
        make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index"), models={"minilm": minilm}
    )
    report = footnote.build_index()
    assert report.embedder == "minilm"
    assert footnote.open_engine().embedder is minilm
    stats = json.loads(store.read_manifest(store.serving_generation(tmp_path / "index")).model_dump_json())
    assert stats["embedder_name"] == "minilm" and "English" in stats["embedder_reason"]


@pytest.mark.model
def test_russian_questions_find_the_english_article_in_a_mixed_corpus(tmp_path: Path, e5: E5Embedder) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(ROOT / "seeds" / "iskander-in-belarus-never-ever.txt", seeds)
    for name in ("kaliy-tranzit.md", "zerno-eksport.md"):
        shutil.copy(RU / name, seeds / name)
    footnote = Pipeline(
        make_settings(seeds_dir=seeds, index_dir=tmp_path / "index"), models={"e5-multilingual": e5}
    )
    assert footnote.build_index().embedder == "e5-multilingual"
    engine = footnote.open_engine()
    # The Russian articles share words and language with these questions, the English one the answer.
    for question in (
        "Почему Москва отказалась передать Искандеры?",
        "Зачем Лавров приезжал в Беларусь?",
        "Как Беларусь ответила на отказ Кремля?",
    ):
        answer = engine.ask(question)
        assert answer.passages[0].doc_id == "iskander-in-belarus-never-ever.txt", question
        assert not answer.abstained and answer.quotes[0].doc_id == answer.passages[0].doc_id, question
