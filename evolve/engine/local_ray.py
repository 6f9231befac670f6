"""The Ray instance a run uses: a cluster's (`--ray-address`) or a local one this process starts,
whose session folder is signed (see evolve/engine/leftovers.py) and removed when the run ends."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from evolve.engine.leftovers import mark_session, remove_dead_sessions

log = logging.getLogger(__name__)


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    if address and "RAY_AUTH_MODE" not in os.environ and (Path.home() / ".ray" / "auth_token").is_file():
        # Ray 2.60's clusters require the token that `ray start` keeps in ~/.ray/auth_token, and a
        # driver sends it only in token mode, read when Ray's config is first loaded.
        os.environ["RAY_AUTH_MODE"] = "token"
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")
    import ray

    from evolve.logs import adopt_ray_logger

    adopt_ray_logger()
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False
        )
        global _local_session_dir
        _local_session_dir = ray._private.worker._global_node.get_session_dir_path()  # type: ignore[attr-defined]
        try:
            mark_session(_local_session_dir)  # a driver killed from here on leaves it to the next
            remove_dead_sessions(Path(_local_session_dir).parent)
        except OSError as exc:  # housekeeping: never a reason to stop a run
            log.warning("could not tidy the Ray session folders: %s", exc)


_local_session_dir: str | None = None  # the session folder of the local Ray instance this process started


def stop_local_ray() -> None:
    """Shut down the local Ray instance this process started and remove its session folder (its
    logs and sockets under /tmp/ray), so finished runs do not pile them up. A cluster is left alone."""
    global _local_session_dir
    import ray

    if _local_session_dir is None:
        return
    session, _local_session_dir = _local_session_dir, None
    ray.shutdown()
    shutil.rmtree(session, ignore_errors=True)
    latest = Path(session).parent / "session_latest"
    if latest.is_symlink() and not latest.exists():
        latest.unlink(missing_ok=True)
