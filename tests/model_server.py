"""An OpenAI-compatible chat server on loopback with scripted answers, latency and faults.

The network boundary is where tests mock the outside world: litellm talks real HTTP to this.
A script is a callable `(request_json, call_index) -> Reply`; helpers below build common ones.
"""

from __future__ import annotations

import json
import re
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


class ModelServer:
    def __init__(self, script):
        self.script = script
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                body = json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model"}]}).encode()
                self._send(200, body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    index = len(server.calls)
                    server.calls.append(request)
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
                    self._send(reply.status, body, retry_after=reply.status == 429)
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

            def _send(self, status, body, retry_after=False):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if retry_after:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
    return any("complete new program" in m["content"] for m in request["messages"] if m["role"] == "user")


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
