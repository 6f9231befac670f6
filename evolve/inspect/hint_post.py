"""`POST /api/hint` of the live page: a person's hint (or its withdrawal) from the page's box.

The only write the live server makes. It answers requests addressed to loopback alone (the
server's Host check), with a JSON body (a page of another site cannot send one without a CORS
preflight, which this server never answers) and, where the browser sends an Origin, from the
page's own origin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from evolve.errors import OptionError
from evolve.store.hints import add_hint, clear_hints

MAX_BODY = 16_384


@dataclass(frozen=True)
class HintRequest:
    text: str | None
    island: int | None
    for_iterations: int | None
    clear: bool

    @classmethod
    def parse(cls, body: bytes) -> HintRequest:
        try:
            data: Any = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise OptionError("the body is not JSON") from None
        if not isinstance(data, dict):
            raise OptionError("the body must be a JSON object")
        text, island, for_iterations = data.get("text"), data.get("island"), data.get("for_iterations")
        for name, value, kind in (
            ("text", text, str),
            ("island", island, int),
            ("for_iterations", for_iterations, int),
        ):
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise OptionError(f"{name}: {value!r} is not a {kind.__name__}")
        return cls(text, island, for_iterations, bool(data.get("clear")))


def same_origin(origin: str | None, host: str) -> bool:
    """A request with no Origin (curl, a script) or from the page's own origin."""
    if not origin:
        return True
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.strip().lower()


def post_hint(engine: Engine, run_id: int, body: bytes) -> dict[str, Any]:
    """Store the hint or withdraw the hints; a bad value raises `OptionError` (a 400)."""
    request = HintRequest.parse(body)
    if request.clear:
        ids = clear_hints(engine, run_id, request.island)
        return {"message": f"withdrew {len(ids)} hint(s)", "hint_ids": ids}
    h = add_hint(engine, run_id, request.text or "", request.island, request.for_iterations)
    return {"message": f"hint {h.id} stored at iteration {h.iteration}", "hint_id": h.id}
