"""The Ray instance a run uses: a cluster's (`--ray-address`) or a local one this process starts,
whose session folder is signed (see evolve/engine/leftovers.py) and removed when the run ends.
A local instance is ended fast: a run's exit does not wait on Ray's graceful shutdown (1.4 s of a
2-core machine's time, most of the run's exit); a process that ends right after (the console
script) does not even disconnect from it (0.3-0.4 s more, measured in bench/RESULTS.md)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
from pathlib import Path

from evolve.engine.leftovers import mark_session, remove_dead_sessions
from evolve.logs import milestone

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


def stop_local_ray(process_ends: bool = False) -> None:
    """Shut down the local Ray instance this process started and remove its session folder (its
    logs and sockets under /tmp/ray), so finished runs do not pile them up. A cluster is left alone.

    `process_ends`: the caller ends the process with `os._exit` next (evolve/cli.py's exit_now),
    after everything is stored and printed. The driver then stays connected to the daemons
    killed here: no disconnect, no `ray.shutdown()`, and Ray's exit hook, which would wait on
    them, is dropped. Only for that case: an interpreter that tears down normally over a
    connection whose daemons are gone crashes."""
    global _local_session_dir
    import ray

    if _local_session_dir is None:
        return
    session, _local_session_dir = _local_session_dir, None
    kill_local_ray(disconnect=not process_ends)
    if process_ends:
        atexit.unregister(ray.shutdown)
    else:
        ray.shutdown()  # what is left of the driver's state; the processes are gone already
    milestone("ray stopped")
    shutil.rmtree(session, ignore_errors=True)
    latest = Path(session).parent / "session_latest"
    if latest.is_symlink() and not latest.exists():
        latest.unlink(missing_ok=True)
    milestone("ray's session folder removed")


def kill_local_ray(disconnect: bool = True) -> None:
    """End the local Ray instance at once: disconnect this driver (unless `disconnect` is False:
    see stop_local_ray), then SIGKILL every process the instance started and their descendants
    (workers, agents). `ray.shutdown()` alone asks each daemon to stop and waits for it (1.4 s on
    a quiet small machine); by the run's end the store holds everything, so nothing is lost by
    not asking. Never raises."""
    import importlib

    import ray

    psutil = importlib.import_module("psutil")  # Ray's own copy (ray/thirdparty_files), on the path once ray is

    node = ray._private.worker._global_node
    driver = ray._private.worker.global_worker
    if node is None:
        return
    tree: list = []
    for infos in node.all_processes.values():
        for info in infos:
            try:
                daemon = psutil.Process(info.process.pid)
                tree += [daemon, *daemon.children(recursive=True)]
            except (psutil.Error, AttributeError):
                continue
    try:  # while the daemons still answer: a driver cut off from them waits on its timeouts
        if disconnect and hasattr(driver, "core_worker"):
            driver.core_worker.shutdown_driver()
            del driver.core_worker
    except Exception as exc:
        log.debug("the driver did not disconnect from Ray cleanly: %s", exc)
    for process in tree:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
