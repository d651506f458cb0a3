"""The real e5 model, counting the passages it is asked to embed (to see what an ingest re-embeds)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.embed.embedder import Embedder


class CountingEmbedder(Embedder):
    def __init__(self, inner: Embedder) -> None:
        self.__dict__.update(inner.__dict__)  # shares the loaded ONNX session, nothing is reloaded
        self.embedded: list[str] = []

    async def embed_passages(self, texts: Sequence[str], batch_size: int = 1) -> list[list[float]]:
        self.embedded += texts
        return await super().embed_passages(texts, batch_size)
