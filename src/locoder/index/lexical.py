"""BM25 over code chunks, with code-aware tokens: ``parseHTTPResponse`` and ``parse_http_response`` both
give ``parse``, ``http``, ``response`` and the whole identifier."""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOP = frozenset(["a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "if", "in", "into", "is", "it", "of", "on", "or", "the", "this", "that", "to", "with", "self", "return", "def", "class", "import", "none", "true", "false", "not"])


def tokenize(text: str) -> list[str]:
    """Lower-case terms: each identifier, and its parts when it has several."""
    out: list[str] = []
    for word in WORD.findall(text):
        lower = word.lower()
        parts = [p.lower() for p in PART.findall(word)]
        if lower not in STOP and len(lower) > 1:
            out.append(lower)
        if len(parts) > 1:
            out += [p for p in parts if p not in STOP and len(p) > 1]
    return out


@dataclass
class BM25:
    """An inverted index: per term, the documents it occurs in and how often. Scores by Okapi BM25."""

    terms: dict[str, int]
    postings: list[tuple[object, object]]
    """Per term id: (document ids, term frequencies) as numpy arrays."""
    lengths: object
    k1: float = 1.2
    b: float = 0.75

    @classmethod
    def build(cls, documents: list[list[str]]) -> BM25:
        import numpy as np

        terms: dict[str, int] = {}
        rows: list[list[int]] = []
        freqs: list[list[int]] = []
        for doc_id, tokens in enumerate(documents):
            counts: dict[str, int] = {}
            for t in tokens:
                counts[t] = counts.get(t, 0) + 1
            for term, count in counts.items():
                tid = terms.setdefault(term, len(terms))
                if tid == len(rows):
                    rows.append([])
                    freqs.append([])
                rows[tid].append(doc_id)
                freqs[tid].append(count)
        postings = [(np.asarray(r, dtype=np.int32), np.asarray(f, dtype=np.float32)) for r, f in zip(rows, freqs)]
        lengths = np.asarray([len(d) for d in documents], dtype=np.float32)
        return cls(terms, postings, lengths)

    def scores(self, query: list[str]):
        import numpy as np

        n = len(self.lengths)
        total = np.zeros(n, dtype=np.float32)
        if n == 0:
            return total
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(float(self.lengths.mean()), 1.0))
        for term in set(query):
            tid = self.terms.get(term)
            if tid is None:
                continue
            ids, tf = self.postings[tid]
            idf = np.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
            total[ids] += idf * tf * (self.k1 + 1) / (tf + norm[ids])
        return total

    def search(self, query: str, k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` best documents for ``query``: (document id, score), best first, score > 0."""
        import numpy as np

        scores = self.scores(tokenize(query))
        if not len(scores):
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
