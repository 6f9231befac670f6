"""An OpenAI-compatible chat server on loopback with scripted answers, latency and faults.

The network boundary is where tests mock the outside world: litellm talks real HTTP to this.
A script is a callable `(request_json, call_index) -> Reply`; helpers below build common ones.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    delay: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 50
    retry_after: str | None = None  # a 429's Retry-After header (default "0")


class ModelServer:
    """`train_context` puts the model's window in GET /v1/models as llama.cpp's server does
    (`meta.n_ctx_train`); `slot_context` and `slots` serve GET /props as llama.cpp does
    (`default_generation_settings.n_ctx`: one request's window, `total_slots`)."""

    def __init__(
        self, script, train_context: int | None = None, slot_context: int | None = None, slots: int | None = None
    ):
        self.script = script
        self.calls: list[dict] = []
        self.call_times: list[float] = []  # time.monotonic() of each request's arrival
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/props"):
                    if slot_context is None:
                        self._send(404, b'{"error": {"message": "File Not Found", "code": 404}}')
                        return
                    props = {"default_generation_settings": {"n_ctx": slot_context}, "total_slots": slots or 1}
                    self._send(200, json.dumps(props).encode())
                    return
                entry: dict = {"id": "test-model", "object": "model", "owned_by": "llamacpp"}
                if train_context is not None:
                    entry["meta"] = {"vocab_type": 2, "n_vocab": 151936, "n_ctx_train": train_context}
                self._send(200, json.dumps({"object": "list", "data": [entry]}).encode())

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    index = len(server.calls)
                    server.calls.append(request)
                    server.call_times.append(time.monotonic())
                reply = server.script(request, index)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    body = json.dumps(
                        {
                            "error": {
                                "message": f"scripted fault {reply.status}",
                                "type": "server_error",
                                "code": reply.status,
                            }
                        }
                    ).encode()
                    wait = (reply.retry_after or "0") if reply.status == 429 else None
                    self._send(reply.status, body, retry_after=wait)
                    return
                body = json.dumps(
                    {
                        "id": f"chatcmpl-{index}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": request.get("model", "test-model"),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": reply.text},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": reply.prompt_tokens,
                            "completion_tokens": reply.completion_tokens,
                            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                        },
                    }
                ).encode()
                self._send(200, body)

            def _send(self, status, body, retry_after=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client that gave up (its timeout, the run's wall time) is expected: not an error.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
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


# ---- building answers from the prompt ------------------------------------------------------

_CURRENT = re.compile(r"# Current program.*?```\w*\n(.*?)```", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")


def current_program(request: dict) -> str:
    text = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
    match = _CURRENT.search(text)
    return match.group(1) if match else ""


def evolvable_lines(code: str) -> list[str]:
    inside, lines = False, []
    for line in code.splitlines():
        if "EVOLVE-BLOCK-START" in line:
            inside = True
        elif "EVOLVE-BLOCK-END" in line:
            inside = False
        elif inside and _NUMBER.search(line) and code.count(line) == 1 and not line.strip().startswith("#"):
            lines.append(line)
    return lines


def good_diff(request: dict, index: int) -> str:
    """A SEARCH/REPLACE that nudges one float constant of the current program."""
    code = current_program(request)
    lines = evolvable_lines(code)
    if not lines:
        return "I have no idea."
    line = lines[index % len(lines)]
    match = _NUMBER.search(line)
    value = float(match.group(1))
    factor = 1.0 + (0.02 if index % 2 else -0.02) * (1 + index % 3)
    new = line[: match.start()] + f"{value * factor:.6g}" + line[match.end() :]
    if new == line:
        new = line + "  # tweak"
    return f"Nudge a constant.\n<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n"


def full_rewrite(request: dict, index: int) -> str:
    code = current_program(request)
    lines = evolvable_lines(code)
    if not lines:
        return "no code"
    line = lines[index % len(lines)]
    match = _NUMBER.search(line)
    new = line[: match.start()] + f"{float(match.group(1)) * 1.01:.6g}" + line[match.end() :]
    return "Here is the whole program:\n```python\n" + code.replace(line, new, 1) + "```\n"


NOT_APPLYING = "<<<<<<< SEARCH\nthis line is not in the program\n=======\nx = 1\n>>>>>>> REPLACE\n"
PROSE = "I think you should try a hexagonal arrangement, it tends to pack better."


def wants_full_rewrite(request: dict) -> bool:
    """A rewrite prompt: the whole program asked for, or (a self-hosted model's, prompts/full.j2)
    one block quoted to rewrite, which a small model also answers with the whole program."""
    asks = ("complete new program", "Rewrite this code of the current program")
    return any(a in m["content"] for m in request["messages"] if m["role"] == "user" for a in asks)


def mixed_script(slow: float = 0.3):
    """Mostly good answers in the form the prompt asks for (a diff or a whole program), plus every
    kind of bad answer and fault, in a fixed cycle over the calls."""

    def script(request: dict, index: int) -> Reply:
        kind = index % 10
        if kind == 7:
            return Reply(status=429)
        if kind == 8:
            return Reply(status=500)
        if wants_full_rewrite(request):
            return Reply(PROSE) if kind == 5 else Reply(full_rewrite(request, index))
        if kind == 3:
            return Reply(NOT_APPLYING)
        if kind == 5:
            return Reply(PROSE)
        if kind == 9:
            return Reply(good_diff(request, index), delay=slow)
        return Reply(good_diff(request, index))

    return script


# ---- answers in every style real models write (issue 10) ----------------------------------------


@dataclass(frozen=True)
class Edit:
    """One valid edit of the current program: the line it changes, before and after."""

    parent: str
    child: str
    old_line: str
    new_line: str


def nudge(request: dict, index: int) -> Edit | None:
    """A child that scales one float constant inside the blocks by a factor unique to `index`,
    so that no two calls propose the same program."""
    code = current_program(request)
    lines = evolvable_lines(code)
    if not lines:
        return None
    line = lines[index % len(lines)]
    match = _NUMBER.search(line)
    assert match is not None
    factor = 1.0 + (0.0007 * (index + 1)) * (1 if index % 2 else -1)
    new = line[: match.start()] + f"{float(match.group(1)) * factor:.9g}" + line[match.end() :]
    return Edit(code, code.replace(line, new, 1), line, new)


def _sr(search: str, replace: str, marks: int = 7) -> str:
    return f"{'<' * marks} SEARCH\n{search}\n{'=' * marks}\n{replace}\n{'>' * marks} REPLACE\n"


def _block_lines(code: str) -> list[str]:
    lines = code.splitlines()
    start = next(i for i, line in enumerate(lines) if "EVOLVE-BLOCK-START" in line)
    end = next(i for i, line in enumerate(lines) if "EVOLVE-BLOCK-END" in line)
    return lines[start : end + 1]


def _unified(e: Edit, n: int = 3) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(e.parent.splitlines(True), e.child.splitlines(True), "a/program.py", "b/program.py", n=n)
    )


def _without_markers(code: str) -> str:
    return "".join(line for line in code.splitlines(True) if "EVOLVE-BLOCK" not in line)


def _body(code: str) -> str:
    return "\n".join(_block_lines(code)[1:-1]) + "\n"


STYLES = {
    "search_replace": lambda e: "Nudge a constant.\n" + _sr(e.old_line, e.new_line),
    "search_replace_fenced": lambda e: "### Edit\n\n```python\n" + _sr(e.old_line, e.new_line) + "```\n",
    "search_replace_diff_fence_long_markers": lambda e: "```diff\n" + _sr(e.old_line, e.new_line, 9) + "```\n",
    "search_replace_tilde_crlf": lambda e: ("~~~\n" + _sr(e.old_line + "  ", e.new_line + " ") + "~~~\n").replace(
        "\n", "\r\n"
    ),
    "search_replace_dedented": lambda e: _sr(e.old_line.strip(), e.new_line.strip(), 5),
    "search_replace_with_marker": lambda e: _sr(
        "\n".join(_block_lines(e.parent)[: _block_lines(e.parent).index(e.old_line) + 1]),
        "\n".join(_block_lines(e.child)[: _block_lines(e.parent).index(e.old_line) + 1]),
    ),
    "search_replace_two_blocks_prose": lambda e: (
        "First, the constant:\n\n"
        + _sr(e.old_line, e.new_line)
        + "\n## Second edit\n\nAnd a comment that documents it:\n\n"
        + _sr(_block_lines(e.parent)[0], _block_lines(e.parent)[0] + "\n# tuned constant")
    ),
    "unified_diff": lambda e: "Here is the patch:\n\n```diff\n" + _unified(e) + "```\n",
    "unified_diff_bare": lambda e: _unified(e, 2) + "\nThat is all.\n",
    "full_program": lambda e: "The whole program:\n\n```python\n" + e.child + "```\n",
    "full_program_bare": lambda e: "Here is the improved program.\n\n" + e.child + "\nIt should score higher.\n",
    "full_program_no_markers": lambda e: "```python\n" + _without_markers(e.child) + "```\n",
    "block_body": lambda e: "New body of the block:\n```python\n" + _body(e.child) + "```\n",
    "think_then_search_replace": lambda e: (
        "<think>\nThe margin could change. Maybe\n```python\nmargin = 0.2\n```\nNo, nudge it gently.\n</think>\n"
        + _sr(e.old_line, e.new_line)
    ),
    "prose_snippets_then_full_program": lambda e: (
        f"The line `{e.old_line.strip()}` sets a constant. For example:\n```python\n{e.new_line.strip()}\n```\n"
        "would change it. The complete program:\n\n```python\n" + e.child + "```\n"
    ),
}


def styled_answer(request: dict, index: int, style: str) -> str:
    edit = nudge(request, index)
    return STYLES[style](edit) if edit is not None else "I have no idea."


def mixed_styles_script(bad_every: int = 0):
    """Valid edits, each call in the next style of STYLES, whatever the prompt asked for. With
    `bad_every`, every that-many-th first answer is a SEARCH that matches nothing; asked again
    (the request holds the re-ask), the server answers with a valid edit."""
    styles = list(STYLES)

    def script(request: dict, index: int) -> Reply:
        retry = is_retry(request)
        if bad_every and not retry and index % bad_every == bad_every - 1:
            return Reply(NOT_APPLYING)
        return Reply(styled_answer(request, index, styles[index % len(styles)]))

    return script


def is_retry(request: dict) -> bool:
    """Whether the request re-asks: the conversation already holds an answer of the model's, or
    ends with the re-ask's message (a self-hosted model's re-ask echoes no answer: mutate/reask.py)."""
    last = request["messages"][-1]
    reask = last["role"] == "user" and last["content"].startswith("Your answer could not be applied")
    return reask or any(m["role"] == "assistant" for m in request["messages"])


# ---- prompts that remember, insights (issue 10, parts 3 and 4) ---------------------------------

INSIGHT_TASK = "Write the run's scratchpad"  # what prompts/insight.j2 asks


def is_insight(request: dict) -> bool:
    """Whether the request is the run's insight call (prompts/insight.j2), not a mutation."""
    return any(INSIGHT_TASK in m["content"] for m in request["messages"] if m["role"] == "user")


def insight_text(number: int) -> str:
    return f"Findings: note {number}, constants near the walls matter.\nRecommendations: note {number}, nudge them."


def with_insights(script):
    """`script` for mutations; insight calls answered with `insight_text(n)`, n = 1, 2, ... in
    the order the server receives them."""
    counter = itertools.count(1)

    def answer(request: dict, index: int) -> Reply:
        if is_insight(request):
            return Reply(insight_text(next(counter)), prompt_tokens=400, completion_tokens=40)
        return script(request, index)

    return answer


def idea_answer(request: dict, index: int, idea: str) -> str:
    """A valid SEARCH/REPLACE edit of the current program with `idea` stated before it."""
    edit = nudge(request, index)
    assert edit is not None, "the current program has no constant to nudge"
    return f"{idea}\n\n" + _sr(edit.old_line, edit.new_line)
