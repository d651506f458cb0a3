"""The chunk store: one interface (`interface`), its Qdrant logic (`store`), two engines under it.

`edge` runs Qdrant Edge in-process (the embedded default, `QDRANT_PATH`); `server` talks to a Qdrant
server through qdrant-client (`QDRANT_URL`). Both speak `CollectionBackend`, so the store's logic and
the schema migrations are written once.
"""
