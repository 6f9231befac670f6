"""Problem folders written for OpenEvolve, ShinkaEvolve or SkyDiscover, read as they are.

`read_peer(folder)` recognises a peer's layout and maps its settings onto problem.toml's keys
(a plain dict that evolve.problem validates like a problem.toml); what does not map is listed,
never silently dropped. One module per format; `settings` holds what they share.
"""

from __future__ import annotations

from pathlib import Path

from evolve.peers import openevolve, shinka, skydiscover
from evolve.peers.settings import PeerFolder, PeerFormat

__all__ = ["PeerFolder", "PeerFormat", "read_peer"]


def read_peer(root: Path) -> PeerFolder | None:
    """The peer problem in `root`, or None when it is no peer's layout. Bad settings raise ProblemError."""
    for reader in (skydiscover, shinka, openevolve):  # SkyDiscover's layout is OpenEvolve's and more
        if reader.recognises(root):
            return reader.read(root)
    return None
