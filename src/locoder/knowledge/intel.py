"""``locoder intel``: a question about the project answered from knowledge plus evidence.

Evidence is gathered from memory, docs and code (context7 when those have nothing), ranked, and numbered;
the model answers from it alone and cites the numbers; the answer comes back with its sources as
``file:line`` or ``doc#section``. Without a model (or when it fails) the ranked evidence is the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from locoder.knowledge.gather import Evidence

INSTRUCTIONS = (
    "Answer the question about this software project using only the numbered evidence below. After each "
    "claim, cite the evidence it comes from with its number in square brackets. For example: "
    "\"Settings are read from config.toml [2], and flags override them [1][4].\" If the evidence does not "
    "answer the question, say so. Be brief: at most a short paragraph."
)


@dataclass
class IntelAnswer:
    query: str
    answer: str
    evidence: list[Evidence]
    cited: list[int] = field(default_factory=list)
    """1-based numbers of the evidence the answer cites (only numbers that exist)."""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"command": "intel", "query": self.query, "answer": self.answer, "cited": self.cited,
                "evidence": [{"n": i, **e.as_dict()} for i, e in enumerate(self.evidence, 1)], "notes": self.notes}


def evidence_block(evidence: list[Evidence], chars: int = 700) -> str:
    out = []
    for i, e in enumerate(evidence, 1):
        text = e.text if len(e.text) <= chars else e.text[:chars] + " ..."
        out.append(f"[{i}] {e.cite} ({e.source})\n{text}")
    return "\n\n".join(out)


def cited_numbers(answer: str, count: int) -> list[int]:
    numbers = []
    for m in re.finditer(r"\[(\d+)\]", answer):
        n = int(m.group(1))
        if 1 <= n <= count and n not in numbers:
            numbers.append(n)
    return numbers


def answer_with(model, query: str, evidence: list[Evidence], max_tokens: int = 400) -> str:
    from locoder.messages import Message

    prompt = f"{INSTRUCTIONS}\n\nEvidence:\n\n{evidence_block(evidence)}\n\nQuestion: {query}"
    reply = model.query([Message("user", prompt)])
    return (reply.content or "").strip()


def render(result: dict) -> str:
    lines = [result["answer"], ""]
    if result["evidence"]:
        lines.append("sources:")
        for e in result["evidence"]:
            mark = "*" if e["n"] in result["cited"] else " "
            lines.append(f" {mark}[{e['n']}] {e['cite']} ({e['source']}, {e['score']:.2f})")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines).strip()
