"""Near-duplicate detection: the local measure at its threshold, the index, embeddings over real HTTP
(litellm against a loopback server), and reading the judge's verdict."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from evolve.search.judge import read_verdict
from evolve.search.novelty import (
    NoveltyIndex,
    embedding_signature,
    jaccard,
    local_signature,
    shingles,
    tokens,
)

PROGRAM = """import math

# EVOLVE-BLOCK-START
def place(n):
    \"\"\"Points on a spiral.\"\"\"
    points = []
    for i in range(n):
        angle = i * 2.399963
        radius = 0.5 * math.sqrt(i / n)
        points.append((0.5 + radius * math.cos(angle), 0.5 + radius * math.sin(angle)))
    return points


def spread(points, steps=40, rate=0.05):
    for _ in range(steps):
        for i, (x, y) in enumerate(points):
            dx = sum(x - a for a, _ in points) * rate
            dy = sum(y - b for _, b in points) * rate
            points[i] = (min(1.0, max(0.0, x + dx)), min(1.0, max(0.0, y + dy)))
    return points
# EVOLVE-BLOCK-END


def run(n=26):
    return spread(place(n))
"""

RELAYOUT = PROGRAM.replace("    return points\n\n\ndef spread", "    return points  # done\n\n\n\ndef spread").replace(
    "angle = i * 2.399963", "angle   =   i * 2.399963   # golden angle"
)
ONE_CONSTANT = PROGRAM.replace("rate=0.05", "rate=0.07")
DIFFERENT = PROGRAM.replace(
    PROGRAM[PROGRAM.index("def place") : PROGRAM.index("# EVOLVE-BLOCK-END")],
    "def place(n):\n    side = int(math.ceil(math.sqrt(n)))\n    return [((c + 0.5) / side, (r + 0.5) / side)"
    " for r in range(side) for c in range(side)][:n]\n\n\ndef spread(points, steps=0, rate=0.0):\n    return points\n",
)


def similarity(a: str, b: str) -> float:
    return local_signature(a).similarity(local_signature(b))


def test_layout_and_comments_do_not_count():
    assert tokens(RELAYOUT) == tokens(PROGRAM)
    assert similarity(PROGRAM, RELAYOUT) == 1.0


def test_only_the_blocks_count():
    outside = PROGRAM.replace("def run(n=26):", "def run(n=30, verbose=False):")
    assert similarity(PROGRAM, outside) == 1.0


def test_one_changed_constant_is_close_and_a_new_idea_is_far():
    close, far = similarity(PROGRAM, ONE_CONSTANT), similarity(PROGRAM, DIFFERENT)
    assert 0.9 < close < 0.99
    assert far < 0.3
    assert close == pytest.approx(jaccard(shingles(PROGRAM), shingles(ONE_CONSTANT)))


def test_a_change_to_one_of_two_identical_lines_counts():
    twice = PROGRAM.replace(
        "    return points\n\n\ndef spread", "    points = list(points)\n    return points\n\n\ndef spread"
    )
    twice = twice.replace("    return points\n# EVOLVE", "    points = list(points)\n    return points\n# EVOLVE")
    once_changed = twice.replace(
        "    points = list(points)\n    return points\n# EVOLVE",
        "    points = tuple(points)\n    return points\n# EVOLVE",
    )
    assert similarity(twice, once_changed) < 0.99


@pytest.mark.parametrize(("threshold", "rejected"), [(0.9, True), (0.99, False)])
def test_the_threshold_decides_a_small_edit(threshold, rejected):
    index = NoveltyIndex(islands=2, threshold=threshold)
    index.add(0, 1, local_signature(PROGRAM))
    match = index.near_duplicate(0, local_signature(ONE_CONSTANT))
    assert (match is not None) == rejected
    if rejected:
        assert match.program_id == 1 and match.similarity < 0.99
    # Whatever the threshold: a copy is a near-duplicate, a new idea is not, another island is apart.
    assert index.near_duplicate(0, local_signature(RELAYOUT)).similarity == 1.0
    assert index.near_duplicate(0, local_signature(DIFFERENT)) is None
    assert index.nearest(1, local_signature(PROGRAM)) is None


def test_the_index_forgets_removed_wiped_and_excluded_programs():
    index = NoveltyIndex(islands=1, threshold=0.95)
    index.add(0, 1, local_signature(PROGRAM))
    index.add(0, 2, local_signature(DIFFERENT))
    assert index.near_duplicate(0, local_signature(RELAYOUT)).program_id == 1
    assert index.near_duplicate(0, local_signature(RELAYOUT), exclude=frozenset({1})) is None
    index.remove(0, 1)
    assert index.near_duplicate(0, local_signature(RELAYOUT)) is None and index.size(0) == 1
    index.wipe(0)
    assert index.size(0) == 0 and index.nearest(0, local_signature(DIFFERENT)) is None


def test_embeddings_compare_by_cosine():
    index = NoveltyIndex(islands=1, threshold=0.99)
    index.add(0, 1, embedding_signature([1.0, 0.0, 0.0]))
    index.add(0, 2, embedding_signature([0.0, 1.0, 0.0]))
    match = index.near_duplicate(0, embedding_signature([10.0, 0.5, 0.0]))
    assert match is not None and match.program_id == 1 and match.similarity == pytest.approx(0.99875, abs=1e-4)
    assert index.near_duplicate(0, embedding_signature([1.0, 1.0, 0.0])) is None


class EmbeddingServer:
    """An OpenAI-compatible /embeddings endpoint on loopback: a bag of the input's characters."""

    def __init__(self):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append(request)
                data = []
                for i, text in enumerate(request["input"]):
                    vector = [0.0] * 64
                    for ch in text:
                        vector[ord(ch) % 64] += 1.0
                    data.append({"object": "embedding", "index": i, "embedding": vector})
                body = json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": request["model"],
                        "usage": {"prompt_tokens": 5, "total_tokens": 5},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_an_embedding_through_litellm_over_http():
    from evolve.mutate.llm import embed

    with EmbeddingServer() as server:
        result = embed("openai/test-embedding", PROGRAM, server.url)
        assert result.error is None and len(result.vector) == 64
        assert server.requests[0]["input"] == [PROGRAM]
    same = embedding_signature(result.vector).similarity(embedding_signature(result.vector))
    assert same == pytest.approx(1.0)


def test_a_failed_embedding_call_is_an_error_not_an_exception():
    from evolve.mutate.llm import embed

    result = embed("openai/test-embedding", PROGRAM, "http://127.0.0.1:9/v1", attempts=1, timeout=2)
    assert result.vector is None and result.error


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("NOVEL: it replaces the spiral with a grid.", False),
        ("duplicate. Only a constant changed.", True),
        ("**DUPLICATE** - same algorithm", True),
        ("I cannot tell.", None),
    ],
)
def test_the_judges_verdict_is_read_from_its_first_word(answer, verdict):
    duplicate, reason = read_verdict(answer)
    assert duplicate is verdict
    assert reason


def test_the_search_settings_are_checked_strictly(tmp_path):
    from evolve.errors import ProblemError
    from evolve.problem import parse_config

    path = tmp_path / "problem.toml"
    base = 'name = "x"\nprogram = "p.py"\n'
    config = parse_config(path, base)
    assert config.novelty.enabled and config.novelty.threshold == 0.99 and config.novelty.embedding_model is None
    assert config.bandit.enabled and config.mutation.crossover == 0.1 and config.population.reset_interval == 100
    for text, key in (
        ("[novelty]\nthreshhold = 0.9\n", "novelty.threshhold"),
        ("[novelty]\nthreshold = 1.5\n", "novelty.threshold"),
        ("[bandit]\ncost_weight = 2.0\n", "bandit.cost_weight"),
        ("[mutation]\nfix = -1.0\n", "mutation.fix"),
        ("[population]\nreset_interval = -3\n", "population.reset_interval"),
    ):
        with pytest.raises(ProblemError, match=re.escape(key)):
            parse_config(path, base + text)
