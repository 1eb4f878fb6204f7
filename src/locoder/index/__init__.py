"""The repository index: files worth indexing, chunks, BM25, embeddings, search, the repo map.

Nothing is imported here: ``locoder.index.store``, ``.search`` and the rest are imported where used.
"""
