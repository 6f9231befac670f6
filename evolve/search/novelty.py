"""Near-duplicate detection: how similar a child is to the programs of its island.

Two measures, one threshold (`[novelty] threshold`):

- with no model (the default, offline and free): the Jaccard similarity of the sets of `k`-token
  shingles of the EVOLVE-BLOCK bodies (the only part that can differ), comments left out. Candidates
  come from a MinHash LSH index (datasketch), so a query does not compare the child with the whole
  island; each candidate's similarity is then computed exactly on its stored shingle hashes, so the
  decision at the threshold is exact, not a MinHash estimate.
- with `embedding_model`: the cosine of the code embeddings (ShinkaEvolve's measure,
  shinka/database/dbase.py), against every member of the island.

A one-token change in a block of N tokens leaves about 1 - 2k/N of the shingles shared (k = 3:
0.98 at N = 300, 0.995 at N = 1,200), so the local threshold decides how small an edit may be.
Pure in-memory logic: the engine computes embeddings and stores them (table `embeddings`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped]

from evolve.edit.blocks import BlockError, block_bodies

NUM_PERM = 128
LSH_MARGIN = 0.15  # the index finds candidates this far below the threshold; the exact check decides

_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|\S")
_HASH_COMMENT = re.compile(r"#[^\n]*")
_SLASH_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_SLASH_LANGUAGES = {"c", "cpp", "rust", "go", "javascript", "typescript", "java"}


def tokens(code: str, language: str = "python") -> list[str]:
    """The tokens of the block bodies (the whole code where it has no valid blocks), no comments."""
    try:
        text = "".join(block_bodies(code)) or code
    except BlockError:
        text = code
    comment = _SLASH_COMMENT if language in _SLASH_LANGUAGES else _HASH_COMMENT
    return _TOKEN.findall(comment.sub(" ", text))


def shingles(code: str, language: str = "python", k: int = 3) -> set[str]:
    """The k-token shingles, each repeat numbered ("a b c#2"), so that the set's Jaccard is the
    multiset's: a change to one of two identical lines counts, which a plain set would miss."""
    toks = tokens(code, language)
    grams = [" ".join(toks)] if len(toks) <= k else [" ".join(toks[i : i + k]) for i in range(len(toks) - k + 1)]
    seen: dict[str, int] = {}
    out = set()
    for g in grams:
        seen[g] = seen.get(g, 0) + 1
        out.add(g if seen[g] == 1 else f"{g}#{seen[g]}")
    return out


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)


@dataclass(frozen=True)
class Signature:
    """What the index keeps of a program: its shingle hashes and MinHash, or its embedding."""

    hashes: np.ndarray | None = None  # sorted unique int64 hashes of the shingles
    minhash: MinHash | None = None
    embedding: np.ndarray | None = None  # unit-norm float32

    def similarity(self, other: Signature) -> float:
        if self.embedding is not None and other.embedding is not None:
            if self.embedding.shape != other.embedding.shape:
                return 0.0
            return float(np.dot(self.embedding, other.embedding))
        if self.hashes is None or other.hashes is None:
            return 0.0
        shared = np.intersect1d(self.hashes, other.hashes, assume_unique=True).size
        union = self.hashes.size + other.hashes.size - shared
        return shared / union if union else 1.0


def local_signature(code: str, language: str = "python", k: int = 3) -> Signature:
    grams = shingles(code, language, k)
    hashes = np.unique(np.array([_stable_hash(g) for g in grams], dtype=np.int64))
    minhash = MinHash(num_perm=NUM_PERM, seed=1)
    minhash.update_batch([g.encode() for g in grams])
    return Signature(hashes=hashes, minhash=minhash)


def embedding_signature(vector: list[float] | tuple[float, ...]) -> Signature:
    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return Signature(embedding=v / norm if norm > 0 else v)


@dataclass(frozen=True)
class Match:
    program_id: int
    similarity: float


@dataclass
class _Island:
    lsh: MinHashLSH | None
    members: dict[int, Signature] = field(default_factory=dict)


class NoveltyIndex:
    """Per island, the signatures of its programs; `nearest` finds a child's closest one."""

    def __init__(self, islands: int, threshold: float):
        self.threshold = threshold
        lsh_threshold = min(0.95, max(0.1, threshold - LSH_MARGIN))
        first = MinHashLSH(threshold=lsh_threshold, num_perm=NUM_PERM)
        self._params = (first.b, first.r)
        self._lsh_threshold = lsh_threshold
        self.islands = [self._empty() for _ in range(islands)]

    def _empty(self) -> _Island:
        return _Island(MinHashLSH(threshold=self._lsh_threshold, num_perm=NUM_PERM, params=self._params))

    def __contains__(self, key: tuple[int, int]) -> bool:
        island, program_id = key
        return program_id in self.islands[island].members

    def size(self, island: int) -> int:
        return len(self.islands[island].members)

    def signature(self, program_id: int) -> Signature | None:
        for isl in self.islands:
            if program_id in isl.members:
                return isl.members[program_id]
        return None

    def add(self, island: int, program_id: int, sig: Signature) -> None:
        isl = self.islands[island]
        if program_id in isl.members:
            return
        isl.members[program_id] = sig
        if sig.minhash is not None and isl.lsh is not None:
            isl.lsh.insert(program_id, sig.minhash, check_duplication=False)

    def remove(self, island: int, program_id: int) -> None:
        isl = self.islands[island]
        sig = isl.members.pop(program_id, None)
        if sig is not None and sig.minhash is not None and isl.lsh is not None:
            isl.lsh.remove(program_id)

    def wipe(self, island: int) -> None:
        self.islands[island] = self._empty()

    def nearest(self, island: int, sig: Signature, exclude: frozenset[int] = frozenset()) -> Match | None:
        """The island's program most similar to `sig` (None: no program to compare with)."""
        isl = self.islands[island]
        if sig.embedding is not None:
            candidates = [pid for pid, s in isl.members.items() if s.embedding is not None]
        elif sig.minhash is not None and isl.lsh is not None:
            candidates = list(isl.lsh.query(sig.minhash))
        else:
            candidates = []
        best: Match | None = None
        for pid in candidates:
            if pid in exclude:
                continue
            similarity = sig.similarity(isl.members[pid])
            if (
                best is None
                or similarity > best.similarity
                or (similarity == best.similarity and pid < best.program_id)
            ):
                best = Match(pid, similarity)
        return best

    def near_duplicate(self, island: int, sig: Signature, exclude: frozenset[int] = frozenset()) -> Match | None:
        """The closest program when it is at or above the threshold, else None."""
        match = self.nearest(island, sig, exclude)
        return match if match is not None and match.similarity >= self.threshold - 1e-12 else None
