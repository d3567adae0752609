"""Step 4a, shared: chunk vectors in one Milvus collection, for archives of millions of passages and for
several bot replicas reading the same vectors.

The collection has three fields: `pk` (INT64, the chunk's content-addressed key, see
index/storage/vectors.py), `doc` (INT64, the key of the article version it belongs to) and `vector`
(FLOAT_VECTOR, inner product).
Every generation of Footnote's own store shares it:

- `write` upserts the vectors of new and changed articles while the new generation is still staged.
  Nothing serving sees them: a search result whose key the serving generation does not know is dropped.
- `retire`, once the new generation is current, deletes the rows of article versions it no longer
  serves (with `footnote index --full`, every row it does not serve).
- Both end with a read at Strong consistency. Once that read returns, searches at the cheaper default
  level (Bounded, ~7 ms instead of ~200 ms on this machine) see the change too, so a reindex is visible
  to every replica as soon as it is reported done.
- A build in flight leaves `.milvus-build` in the index directory until its clean-up is done; the next
  build finds it and deletes every row the current generation does not serve, so a crash leaves no
  orphan vectors behind.

pymilvus is imported on first use only: the FAISS default never loads it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from config.defaults import (
    IVF_NPROBE,
    MILVUS_COLLECTION,
    MILVUS_CONSISTENCY,
    MILVUS_EF,
    MILVUS_INDEX,
    MILVUS_TIMEOUT,
    Consistency,
    IndexType,
)
from index.errors import IndexCorruptError, VectorStoreError
from index.storage.vectors import Keys, VectorPlan
from index.types import Vectors

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

INTENT = ".milvus-build"
_BATCH = 2000  # rows per upsert (~3 MB of 384-d vectors, well under gRPC's message limit)
_DELETE_BATCH = 1000  # doc keys per delete expression
_SLACK = 10  # extra hits asked for, in case some belong to a build in flight and are dropped
_SAMPLE = 16  # keys looked up when a generation is opened


def redact(message: str, uri: str, token: str | None) -> str:
    """`message` with the password of `uri` (`http://user:password@host`) and the token (`user:password`
    or an API key) replaced by `***`, wherever they appear."""
    from urllib.parse import urlsplit

    secrets = []
    try:
        password = urlsplit(uri).password
    except ValueError:
        password = None
    if password:
        secrets.append(password)
    if token:
        secrets.append(token)
        secrets.append(token.partition(":")[2])
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


class MilvusSearch:
    """One generation's view of the shared collection: only the keys it knows are results."""

    def __init__(self, store: MilvusStore, keys: Keys, dim: int) -> None:
        self.store = store
        self.keys = keys
        self.dim = dim
        # Sorted keys and their chunk positions: 16 bytes a chunk (a dict would take ~100 bytes).
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    @property
    def count(self) -> int:
        """How many chunks the generation holds."""
        return len(self.keys)

    def search(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """(position, inner product) of the k nearest chunks this generation serves."""
        if not self.count:
            return []
        hits = self.store.search(query, min(k, self.count) + _SLACK)
        if not hits:
            return []
        wanted = np.fromiter((key for key, _ in hits), dtype=np.int64, count=len(hits))
        at = np.minimum(np.searchsorted(self._sorted, wanted), len(self._sorted) - 1)
        known = self._sorted[at] == wanted
        found = [
            (int(self._order[i]), score) for i, (_, score), ok in zip(at, hits, known, strict=True) if ok
        ]
        return found[:k]

    def vectors(self, positions: Sequence[int]) -> Vectors:
        """The stored vectors of these chunks (zeros for rows already retired)."""
        return self.store.fetch([int(self.keys[i]) for i in positions], self.dim)

    def describe(self) -> str:
        """Collection, index type and read consistency."""
        return self.store.describe()


class MilvusStore:
    """Chunk vectors in the Milvus collection `collection` at `uri`."""

    files: tuple[str, ...] = ()

    def __init__(
        self,
        uri: str,
        token: str | None = None,
        collection: str = MILVUS_COLLECTION,
        consistency: Consistency = MILVUS_CONSISTENCY,
        index_type: IndexType = MILVUS_INDEX,
        ef: int = MILVUS_EF,
        nprobe: int = IVF_NPROBE,
        timeout: float = MILVUS_TIMEOUT,
    ) -> None:
        self.uri = uri
        self.token = token
        self.collection = collection
        self.consistency = consistency
        self.index_type = index_type
        self.ef = ef
        self.nprobe = nprobe
        self.timeout = timeout
        self._client: MilvusClient | None = None
        self._connecting = threading.Lock()

    @property
    def shown_uri(self) -> str:
        """The URI as it may appear in messages: any password replaced by `***`."""
        return redact(self.uri, self.uri, self.token)

    @property
    def id(self) -> str:
        """`milvus:<collection>`: another collection is another index (the server's address is not part of
        it, since replicas may reach the same server under different names)."""
        return f"milvus:{self.collection}"

    def describe(self) -> str:
        """For `footnote stats` and logs."""
        return f"milvus collection {self.collection} ({self.index_type}, {self.consistency} reads)"

    # -- connection ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[MilvusClient]:
        """The client, with Milvus's errors turned into one clear VectorStoreError."""
        from pymilvus.exceptions import MilvusException

        try:
            yield self.client()
        except MilvusException as exc:
            raise self._failure(f"{what} failed", exc) from None

    def _failure(self, what: str, exc: Exception) -> VectorStoreError:
        reason = getattr(exc, "message", None) or str(exc)
        return VectorStoreError(
            self._redact(
                f"Milvus at {self.uri}: {what} ({reason}); "
                "check FOOTNOTE_MILVUS_URI and that the server is up"
            )
        )

    def _redact(self, message: str) -> str:
        """`message` without the URI's password or the token, which pymilvus may echo in its errors."""
        return redact(message, self.uri, self.token)

    def client(self) -> MilvusClient:
        """Connect on first use (one connection per process, shared by its threads)."""
        with self._connecting:
            return self._connect()

    def _connect(self) -> MilvusClient:
        if self._client is None:
            from pymilvus import MilvusClient
            from pymilvus.exceptions import MilvusException

            # pymilvus logs every failed call with a traceback at ERROR; Footnote reports it in one line.
            logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
            try:
                self._client = MilvusClient(uri=self.uri, token=self.token or "", timeout=self.timeout)
            except MilvusException as exc:
                raise self._failure("cannot connect", exc) from None
        return self._client

    def close(self) -> None:
        """Close the connection (a new one opens on the next call)."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    # -- the collection ------------------------------------------------------------------------------

    def _dimension(self) -> int | None:
        """The collection's vector dimension, or None when it does not exist."""
        with self._calling("describing the collection") as client:
            if not client.has_collection(self.collection):
                return None
            description = client.describe_collection(self.collection)
        for field in description.get("fields", []):
            if field.get("name") == "vector":
                return int(field.get("params", {}).get("dim", 0))
        raise VectorStoreError(
            f"Milvus collection {self.collection!r} at {self.shown_uri} has no `vector` field: "
            "it was not made by Footnote; choose another FOOTNOTE_MILVUS_COLLECTION"
        )

    def _ensure(self, dim: int) -> None:
        """Create the collection (with its index) when missing, and make sure it is loaded for search."""
        found = self._dimension()
        if found is not None and found != dim:
            raise VectorStoreError(
                f"Milvus collection {self.collection!r} holds {found}-d vectors, this embedder makes {dim}-d "
                "ones; drop the collection or choose another FOOTNOTE_MILVUS_COLLECTION"
            )
        with self._calling("preparing the collection") as client:
            if found is None:
                from pymilvus import DataType, MilvusClient

                schema = MilvusClient.create_schema(
                    auto_id=False, enable_dynamic_field=False, description="Footnote chunk vectors"
                )
                schema.add_field("pk", DataType.INT64, is_primary=True)
                schema.add_field("doc", DataType.INT64)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
                index = client.prepare_index_params()
                index.add_index(
                    field_name="vector",
                    index_type=self.index_type,
                    metric_type="IP",
                    params=_build_params(self.index_type),
                )
                index.add_index(field_name="doc", index_type="STL_SORT")
                client.create_collection(
                    self.collection,
                    schema=schema,
                    index_params=index,
                    consistency_level=self.consistency,
                )
                log.info("created Milvus collection %s (%d-d, %s)", self.collection, dim, self.index_type)
            self._load(client)

    def _load(self, client: MilvusClient) -> None:
        state = str(client.get_load_state(self.collection).get("state", ""))
        if "Loaded" not in state or "NotLoad" in state:
            client.load_collection(self.collection)

    def _barrier(self) -> None:
        """A Strong read: returns once every earlier write is visible to searches at any level."""
        with self._calling("waiting for writes to become visible") as client:
            client.query(
                self.collection,
                filter="pk >= 0",
                output_fields=["pk"],
                limit=1,
                consistency_level="Strong",
            )

    # -- the VectorStore protocol --------------------------------------------------------------------

    def recover(self, index_dir: Path, live: set[int]) -> None:
        """After a crashed build: delete every row the current generation does not serve."""
        intent = index_dir / INTENT
        if not intent.exists():
            return
        log.warning("an earlier build did not finish; removing the vectors it left in Milvus")
        if self._dimension() is not None:
            self._sweep(live)
            self._barrier()
        intent.unlink(missing_ok=True)

    def write(self, index_dir: Path, staging: Path, plan: VectorPlan) -> None:
        """Upsert the fresh rows (unchanged articles' rows are in the collection already)."""
        self._ensure(plan.dim)
        _mark(index_dir / INTENT)
        rows = plan.fresh_rows
        with self._calling("storing vectors") as client:
            for begin in range(0, len(rows), _BATCH):
                batch = rows[begin : begin + _BATCH]
                vectors = plan.fresh_vectors[begin : begin + len(batch)]
                client.upsert(
                    self.collection,
                    [
                        {"pk": int(plan.keys[row]), "doc": int(plan.doc_keys[row]), "vector": vector}
                        for row, vector in zip(batch, vectors, strict=True)
                    ],
                )
        self._barrier()

    def retire(self, index_dir: Path, live: set[int], candidates: set[int], *, sweep: bool) -> None:
        """Delete the rows of article versions the current generation no longer serves."""
        if sweep:
            self._sweep(live)
        else:
            self._delete(sorted(candidates - live))
        self._barrier()
        (index_dir / INTENT).unlink(missing_ok=True)

    def open(self, generation: Path, keys: Keys, dim: int) -> MilvusSearch:
        """The generation's view of the collection, after checking the collection holds its vectors."""
        found = self._dimension()
        if found is None:
            raise IndexCorruptError(
                f"{generation}: its vectors are in Milvus collection {self.collection!r}, "
                f"which {self.shown_uri} does not have; run `footnote index --full`"
            )
        if found != dim:
            raise IndexCorruptError(
                f"{generation}: Milvus collection {self.collection!r} holds {found}-d vectors, the manifest "
                f"says {dim}; run `footnote index --full`"
            )
        with self._calling("loading the collection") as client:
            self._load(client)
        if len(keys):
            sample = [int(keys[i]) for i in np.linspace(0, len(keys) - 1, min(_SAMPLE, len(keys)), dtype=int)]
            with self._calling("checking the collection") as client:
                present = client.query(self.collection, ids=sample, output_fields=["pk"])
            if not present:
                raise IndexCorruptError(
                    f"{generation}: Milvus collection {self.collection!r} at {self.shown_uri} "
                    "holds none of this index's vectors (another server, or the collection was emptied); run "
                    "`footnote index --full`"
                )
        return MilvusSearch(self, keys, dim)

    # -- reads and deletes ---------------------------------------------------------------------------

    def search(self, query: Vectors, limit: int) -> list[tuple[int, float]]:
        """(key, inner product) of the nearest rows."""
        params: dict[str, Any] = {"metric_type": "IP", "params": _search_params(self, limit)}
        with self._calling("searching") as client:
            hits = client.search(
                self.collection,
                data=[np.asarray(query, dtype=np.float32).reshape(-1).tolist()],
                limit=limit,
                anns_field="vector",
                search_params=params,
                consistency_level=self.consistency,
            )
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits[0]]

    def fetch(self, keys: list[int], dim: int) -> Vectors:
        """Stored vectors by key, in the order asked (zeros for keys no longer stored)."""
        found: dict[int, Any] = {}
        with self._calling("reading vectors") as client:
            for begin in range(0, len(keys), _BATCH):
                rows = client.query(
                    self.collection, ids=keys[begin : begin + _BATCH], output_fields=["pk", "vector"]
                )
                found.update((int(row["pk"]), row["vector"]) for row in rows)
        out = np.zeros((len(keys), dim), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in found:
                out[i] = found[key]
        return out

    def _delete(self, doc_keys: Sequence[int]) -> None:
        with self._calling("deleting retired vectors") as client:
            for begin in range(0, len(doc_keys), _DELETE_BATCH):
                batch = ", ".join(str(k) for k in doc_keys[begin : begin + _DELETE_BATCH])
                client.delete(self.collection, filter=f"doc in [{batch}]")

    def _sweep(self, live: set[int]) -> None:
        """Delete every row whose article version is not in `live` (reads every row's doc key)."""
        stale: set[int] = set()
        with self._calling("listing stored vectors") as client:
            iterator = client.query_iterator(
                self.collection, batch_size=16384, filter="pk >= 0", output_fields=["doc"]
            )
            try:
                while rows := iterator.next():
                    stale.update(int(row["doc"]) for row in rows if int(row["doc"]) not in live)
            finally:
                iterator.close()
        if stale:
            log.info("removing vectors of %d article versions no longer indexed", len(stale))
        self._delete(sorted(stale))


def _build_params(index_type: IndexType) -> dict[str, Any]:
    if index_type == "HNSW":
        return {"M": 16, "efConstruction": 200}
    if index_type == "IVF_FLAT":
        return {"nlist": 2048}
    return {}


def _search_params(store: MilvusStore, limit: int) -> dict[str, Any]:
    if store.index_type == "HNSW":
        return {"ef": max(store.ef, limit)}
    if store.index_type == "IVF_FLAT":
        return {"nprobe": store.nprobe}
    return {}


def _mark(path: Path) -> None:
    """Write the build-in-flight marker durably before the first row is stored."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"started": datetime.now(UTC).isoformat(timespec="seconds")}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
