"""The factory: the thresholds calibrated for the embedder reach the answer parameters, the manifest records
them, and an index whose manifest predates that record still serves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from index.errors import CalibrationError
from index.ingest.embedding import HashingEmbedder
from index.pipeline import Pipeline
from index.query.reader import ReaderWeights
from index.storage import store
from index.types import Vectors
from tests.helpers import make_settings, write_articles


class Uncalibrated(HashingEmbedder):
    """An embedder no thresholds were placed for; counts what it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    @property
    def key(self) -> str:
        return "uncalibrated"

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded += len(texts)
        return super().embed_passages(texts)


@pytest.mark.parametrize("name", ["minilm", "e5-multilingual", "hashing"])
def test_the_answer_parameters_are_the_embedders_calibration(name: str, tmp_path: Path) -> None:
    footnote = Pipeline(make_settings(embedder=name, index_dir=tmp_path / "index"))
    calibration = ReaderWeights.load().calibration(name)
    answer = footnote.params_for(footnote.embedder).answer
    assert (
        answer.abstain_threshold,
        answer.cosine_offset,
        answer.abstain_lexical_weight,
        answer.crosslingual_gap,
        answer.answer_threshold,
        answer.slot_threshold,
    ) == (
        calibration.abstain_threshold,
        calibration.abstain_threshold,
        calibration.abstain_lexical_weight,
        calibration.crosslingual_gap,
        calibration.answer_threshold,
        calibration.slot_threshold,
    )


def test_the_abstain_threshold_setting_moves_the_relevance_test_only(tmp_path: Path) -> None:
    footnote = Pipeline(make_settings(embedder="minilm", abstain_threshold=0.42, index_dir=tmp_path / "i"))
    answer = footnote.params_for(footnote.embedder).answer
    assert answer.abstain_threshold == 0.42
    assert answer.cosine_offset == ReaderWeights.load().calibration("minilm").abstain_threshold == 0.3
    assert answer.answer_threshold == -3.5


def test_an_embedder_without_thresholds_fails_clearly_before_embedding_anything(tmp_path: Path) -> None:
    write_articles(tmp_path / "seeds")
    embedder = Uncalibrated()
    footnote = Pipeline(make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index"), embedder)
    with pytest.raises(
        CalibrationError, match="no thresholds are calibrated for the embedder 'uncalibrated'"
    ):
        footnote.build_index()
    assert embedder.embedded == 0 and store.current_manifest(tmp_path / "index") is None
    with pytest.raises(CalibrationError, match="FOOTNOTE_EMBEDDER"):
        footnote.params_for(embedder)


def test_the_manifest_records_the_calibration_answers_use(tmp_path: Path) -> None:
    write_articles(tmp_path / "seeds")
    settings = make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embedder="hashing")
    Pipeline(settings).build_index()
    generation = store.serving_generation(settings.index_dir)
    recorded = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))["calibration"]
    assert recorded == {
        "embedder": "hashing",
        "abstain_threshold": 0.2,
        "abstain_lexical_weight": 0.25,
        "crosslingual_gap": 0.0,
        "answer_threshold": None,  # -inf: not calibrated
        "slot_threshold": None,
    }
    manifest = store.read_manifest(generation)
    assert manifest.calibration is not None and manifest.calibration.embedder == "hashing"


def test_an_index_whose_manifest_predates_the_calibration_still_serves(tmp_path: Path) -> None:
    write_articles(tmp_path / "seeds")
    settings = make_settings(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", embedder="hashing")
    footnote = Pipeline(settings)
    footnote.build_index()
    path = store.serving_generation(settings.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["calibration"]
    path.write_text(json.dumps(manifest), encoding="utf-8")
    assert store.read_manifest(path.parent).calibration is None
    answer = footnote.open_engine().ask("When do farmers pick ripe apples?")
    assert answer.quotes and answer.quotes[0].doc_id == "apples.md"
    assert not footnote.build_index().wrote, "a missing record alone does not rebuild the index"
