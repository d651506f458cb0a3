"""Dense embeddings with fastembed, computed off the event loop."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fastembed import TextEmbedding
from fastembed.common.model_description import ModelSource, PoolingType

from bot.concurrency import WorkPool


@dataclass(frozen=True)
class CustomModel:
    """A model fastembed does not list itself; registered before loading."""

    dim: int
    hub_file: str = "onnx/model.onnx"


# multilingual-e5-small is the default (Russian + English, 384 dims, fast on CPU) but is not in
# fastembed's own catalogue, so it is registered here.
_CUSTOM_MODELS: dict[str, CustomModel] = {
    "intfloat/multilingual-e5-small": CustomModel(dim=384),
    "intfloat/multilingual-e5-base": CustomModel(dim=768),
}


def wants_e5_prefixes(model_name: str) -> bool:
    # e5 models were trained with "query: " / "passage: " and lose accuracy without them.
    return "e5" in model_name.lower().split("/")[-1]


def vector_name_for(model_name: str) -> str:
    """The named-vector key in Qdrant, derived from the model so two models can coexist."""
    return "dense-" + re.sub(r"[^a-z0-9]+", "-", model_name.lower().split("/")[-1]).strip("-")


class Embedder:
    def __init__(self, model_name: str, model_path: Path | None = None, threads: int | None = None) -> None:
        self.model_name = model_name
        self.vector_name = vector_name_for(model_name)
        self._prefixes = wants_e5_prefixes(model_name)
        self._model = _load(model_name, model_path, threads)
        self.dim = len(next(iter(self._model.embed(["dimension probe"]))))
        # Alone, one worker: onnxruntime already uses every core (threads=None). The composition root
        # loads the model with threads=1 and hands it a pool with one worker per core instead (`on`).
        self._pool = WorkPool("embed", 1)
        self._owns_pool = True

    def on(self, pool: WorkPool) -> Embedder:
        """The same loaded model, run on `pool`: several questions embed at once, one per worker.

        ONNX sessions may be run from several threads at once (onnxruntime's `Run` is thread-safe).
        """
        view = copy.copy(self)
        view._pool = pool
        view._owns_pool = False
        return view

    async def embed_passages(self, texts: Sequence[str], batch_size: int = 1) -> list[list[float]]:
        # Measured on 2 cores with the int8 e5-small (96 XQuAD paragraphs): batch 1 took 5.7 s,
        # batch 4 7.6 s, batch 32 19.9 s. Padding and int8 kernels make batching a loss here.
        prepared = [f"passage: {t}" if self._prefixes else t for t in texts]
        return await self._run(prepared, batch_size)

    async def embed_query(self, text: str) -> list[float]:
        prepared = f"query: {text}" if self._prefixes else text
        return (await self._run([prepared], 1))[0]

    async def _run(self, texts: list[str], batch_size: int) -> list[list[float]]:
        if not texts:
            return []
        # Dealt round-robin by length, so every worker gets a like share of long and short texts.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        shares = [order[k :: self._pool.workers] for k in range(min(self._pool.workers, len(texts)))]
        parts = await asyncio.gather(
            *(self._pool.run(self._embed_sync, [texts[i] for i in share], batch_size) for share in shares)
        )
        result: list[list[float]] = [[] for _ in texts]
        for share, vectors in zip(shares, parts, strict=True):
            for index, vector in zip(share, vectors, strict=True):
                result[index] = vector
        return result

    def _embed_sync(self, texts: list[str], batch_size: int) -> list[list[float]]:
        # Batches pad to their longest text: sorting by length first cuts the padding work,
        # which on mixed-length chunks is most of the cost.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._model.embed([texts[i] for i in order], batch_size=batch_size)
        result: list[list[float]] = [[] for _ in texts]
        for index, vector in zip(order, vectors, strict=True):
            result[index] = vector.tolist()
        return result

    def close(self) -> None:
        if self._owns_pool:
            self._pool.shutdown()


def _load(model_name: str, model_path: Path | None, threads: int | None) -> TextEmbedding:
    custom = _CUSTOM_MODELS.get(model_name)
    if custom is not None and model_name not in _registered_models():
        model_file = custom.hub_file
        if model_path is not None and (model_path / "model.onnx").exists():
            model_file = "model.onnx"
        TextEmbedding.add_custom_model(
            model=model_name,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf=model_name),
            dim=custom.dim,
            model_file=model_file,
        )
    if model_path is not None:
        return TextEmbedding(
            model_name, specific_model_path=str(model_path), local_files_only=True, threads=threads
        )
    return TextEmbedding(model_name, threads=threads)


def _registered_models() -> set[str]:
    return {str(m["model"]) for m in TextEmbedding.list_supported_models()}
