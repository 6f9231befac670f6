"""Ending the local Ray instance a run started, fast: a run's exit should not wait on Ray's
graceful shutdown (1.4 s of a 2-core machine's time, most of the run's exit)."""

from __future__ import annotations

import logging
import signal

log = logging.getLogger(__name__)


def kill_local_ray() -> None:
    """End the local Ray instance at once: disconnect this driver, then SIGKILL every process the
    instance started and their descendants (workers, agents). `ray.shutdown()` alone asks each
    daemon to stop and waits for it (1.4 s on a quiet small machine); by the run's end the store
    holds everything, so nothing is lost by not asking. Never raises: `ray.shutdown()` follows."""
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
        if hasattr(driver, "core_worker"):
            driver.core_worker.shutdown_driver()
            del driver.core_worker
    except Exception as exc:
        log.debug("the driver did not disconnect from Ray cleanly: %s", exc)
    for process in tree:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
