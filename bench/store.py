"""The chunk store alone: hybrid query latency, ingest time and memory at 2k / 20k / 50k chunks, Qdrant
Edge (the embedded default) against qdrant-client's local mode (the embedded store before it).

Chunks are made from real XQuAD paragraphs and real vectors without embedding 50k texts: 160
paragraphs are embedded once (e5 + BM25), and chunk i takes paragraph i mod 160's text and sparse
vector and its dense vector with a little Gaussian noise (σ = 0.02 per dimension, then normalised),
so the points are distinct but lie where real ones do. Questions are real XQuAD questions, asked as
the bot asks them (DBSF hybrid, scope filter of the global base plus one chat). Each engine and size
runs in a fresh process, so its RSS is its own. Queries run one at a time.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.store [--sizes 2000 20000 50000] [--queries 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.retrieval import DEFAULT_MODEL_PATH, DEFAULT_XQUAD, MODEL, REPO_ROOT, load_xquad
from bot.domain import GLOBAL_SCOPE, DocumentInfo, SearchQuery, SparseVector, chat_scope, search_text
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.storage.chunks.edge import EdgeCollection
from bot.storage.chunks.interface import ChunkToStore, CollectionBackend
from bot.storage.chunks.server import ServerCollection
from bot.storage.chunks.store import QdrantChunkStore
from bot.storage.migrator import MigrationContext, migrate

RESULTS = REPO_ROOT / "bench" / "results" / "store.json"
PARAGRAPHS = 160
CHUNKS_PER_DOC = 20
NOISE = 0.02


async def prepare(xquad: Path, model_path: Path | None, questions: int) -> dict[str, Any]:
    """Embeds the paragraphs and questions once; the per-engine runs read them from `out`."""
    ru, ru_q = load_xquad(xquad, "ru")
    en, en_q = load_xquad(xquad, "en")
    texts = (list(ru.values())[: PARAGRAPHS // 2] + list(en.values())[: PARAGRAPHS // 2])[:PARAGRAPHS]
    asked = [q.text for pair in zip(ru_q, en_q, strict=False) for q in pair][:questions]
    embedder = Embedder(MODEL, model_path)
    sparse = SparseEmbedder()
    dense = await embedder.embed_passages([search_text("XQuAD", None, t) for t in texts])
    sparse_vectors = sparse.embed_passages_sync([search_text("XQuAD", None, t) for t in texts])
    query_dense = [await embedder.embed_query(q) for q in asked]
    embedder.close()
    return {
        "texts": texts,
        "dense": dense,
        "sparse": [[v.indices, v.values] for v in sparse_vectors],
        "questions": asked,
        "query_dense": query_dense,
        "query_sparse": [[v.indices, v.values] for v in (sparse.embed_query(q) for q in asked)],
        "dim": len(dense[0]),
        "vector_name": embedder.vector_name,
    }


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS) or its peak (VmHWM), from /proc: unlike getrusage's
    ru_maxrss, the peak starts afresh at exec instead of carrying the parent's model-laden peak."""
    status = Path("/proc/self/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:"))) / 1024


async def measure(engine: str, size: int, data: dict[str, Any], folder: Path) -> dict[str, Any]:
    rss_start = _rss_mb()
    backend: CollectionBackend
    if engine == "edge":
        backend = await EdgeCollection.open(folder, "bench", data["vector_name"])
    else:
        backend = ServerCollection(_local_client(folder), "bench", data["vector_name"])
    await migrate(MigrationContext(backend, data["dim"], MODEL))
    store = QdrantChunkStore(backend)
    rng = np.random.default_rng(7)
    base = np.array(data["dense"], dtype=np.float32)
    started = time.perf_counter()
    for doc_number in range(size // CHUNKS_PER_DOC):
        # One in ten documents belongs to some chat, the rest to the global base, as in a helpdesk.
        scope = chat_scope(-(doc_number % 50)) if doc_number % 10 == 0 else GLOBAL_SCOPE
        doc = DocumentInfo(
            f"doc{doc_number}", scope, f"Doc {doc_number}", f"doc{doc_number}.txt", "text", None,
            CHUNKS_PER_DOC, f"h{doc_number}", None, time.time(),
        )  # fmt: skip
        chunks = []
        for index in range(CHUNKS_PER_DOC):
            source = (doc_number * CHUNKS_PER_DOC + index) % PARAGRAPHS
            vector = base[source] + rng.normal(0, NOISE, size=(base.shape[1],)).astype(np.float32)
            vector /= np.linalg.norm(vector)
            indices, values = data["sparse"][source]
            chunks.append(
                ChunkToStore(
                    index, data["texts"][source], None, None, vector.tolist(), SparseVector(indices, values)
                )
            )
        await store.store_document(doc, chunks)
    ingest_s = time.perf_counter() - started
    rss_loaded = _rss_mb()
    # Resident memory splits into the process's own (anonymous) pages and mapped files' pages: Edge maps
    # its segment files, and their resident pages are page cache the kernel can drop under pressure.
    anon_loaded, file_loaded = _rss_mb("RssAnon"), _rss_mb("RssFile")
    latencies = []
    for dense, (indices, values) in zip(data["query_dense"], data["query_sparse"], strict=True):
        query = SearchQuery(dense=dense, sparse=SparseVector(indices, values))
        started = time.perf_counter()
        found = await store.search(query, [GLOBAL_SCOPE, chat_scope(-10)], limit=10)
        latencies.append((time.perf_counter() - started) * 1000)
        assert found
    await backend.close()
    return {
        "engine": engine,
        "chunks": size,
        "ingest_s": round(ingest_s, 1),
        "query_p50_ms": round(statistics.median(latencies), 1),
        "query_p95_ms": round(statistics.quantiles(latencies, n=20)[18], 1),
        "rss_start_mb": round(rss_start),
        "rss_loaded_mb": round(rss_loaded),
        "anon_loaded_mb": round(anon_loaded),
        "file_loaded_mb": round(file_loaded),
        "peak_rss_mb": round(_rss_mb("VmHWM")),
        "queries": len(latencies),
    }


def _local_client(folder: Path) -> Any:
    from qdrant_client import AsyncQdrantClient

    return AsyncQdrantClient(path=str(folder))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--xquad", type=Path, default=DEFAULT_XQUAD)
    parser.add_argument(
        "--model-path", type=Path, default=DEFAULT_MODEL_PATH if DEFAULT_MODEL_PATH.is_dir() else None
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000, 50000])
    parser.add_argument("--engines", nargs="+", choices=["edge", "local"], default=["edge", "local"])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "SIZE", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        engine, size, data_file = args.one
        with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
            data = json.loads(Path(data_file).read_text(encoding="utf-8"))
            print(json.dumps(asyncio.run(measure(engine, int(size), data, Path(folder)))))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        data_file = Path(folder) / "vectors.json"
        data_file.write_text(
            json.dumps(asyncio.run(prepare(args.xquad, args.model_path, args.queries))), encoding="utf-8"
        )
        for size in args.sizes:
            for engine in args.engines:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.store", "--one", engine, str(size), str(data_file)],
                    capture_output=True, text=True, check=True, cwd=REPO_ROOT,
                )  # fmt: skip
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(_row(rows[-1]), flush=True)
    print(
        "\n| engine | chunks | ingest s | query p50 ms | query p95 ms | RSS before MB | RSS loaded MB |",
        end="",
    )
    print(" of it anonymous MB | of it mapped files MB | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(_row(row))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


def _row(row: dict[str, Any]) -> str:
    return (
        f"| {row['engine']} | {row['chunks']} | {row['ingest_s']} | {row['query_p50_ms']} | "
        f"{row['query_p95_ms']} | {row['rss_start_mb']} | {row['rss_loaded_mb']} | "
        f"{row.get('anon_loaded_mb', '–')} | {row.get('file_loaded_mb', '–')} | {row['peak_rss_mb']} |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
