"""A scan on a Ray cluster (`scan --ray`): a pool of actors, each with the model loaded once and one core of its
own, receives batches of file paths (the files must be on storage every node sees, under the same paths) and sends
back their ImageFaces. Every actor has two batches in hand, so it never waits for the scan to hand it the next.
A batch whose actor dies (a node lost, a process killed) goes back to the queue and is given to a new actor; an
image's result is yielded only when its whole batch came back, so nothing is lost and nothing is reported twice."""
import logging
import os
import socket
from collections import deque

from ..errors import FacegateError

BATCH = 8
"""Paths per task: large enough that Ray's per-task cost (~1 ms) is nothing beside ~100 ms per image."""
IN_FLIGHT = 2
"""Batches each actor holds at once."""
CPUS_PER_ACTOR = 1
"""Cores per actor; its networks run that many threads, so that actors do not fight for cores."""
MAX_REPLACEMENTS = 10
"""Actors that may die in one scan before it stops: a batch that kills every actor it meets is not retried forever."""
INSTALL_HINT = "--ray needs Ray: pip install 'facegate[ray]'"
CONNECT_TIMEOUT = 5.0
"""Seconds to wait for a cluster's address to answer: Ray itself retries an unreachable address for minutes."""


def _check_reachable(address):
    """Fail in one line, within CONNECT_TIMEOUT, when a cluster address (`ray://HOST[:PORT]`, `HOST:PORT`) does not
    accept a connection; `auto` and `local` are Ray's own business."""
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        host, port = address.removeprefix("ray://"), "10001" if client else "6379"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise FacegateError(f"--ray {address}: cannot reach a Ray cluster ({exc.strerror or exc})") from None


def _ray():
    try:
        import ray
    except ImportError:
        raise FacegateError(INSTALL_HINT) from None
    return ray


class _Worker:
    """One Ray actor: the model loaded once, `encode` a batch of paths at a time."""

    def __init__(self, model_name, threads):
        from ..faces.pipeline import load_model

        self.model = load_model(model_name, threads=threads)

    def pid(self):
        return os.getpid()

    def encode(self, paths):
        from ..faces.pipeline import iter_encoded

        return list(iter_encoded(paths, self.model))


class RayEncoder:
    """The actor pool on the cluster at `address`: `auto` (the cluster this machine belongs to, else a new local
    one), `local` (a new local cluster), or a cluster's address (`ray://HOST:10001`, `HOST:6379`). A with-block
    ends the actors, and the cluster if it was started here."""

    def __init__(self, model_name, address="auto", actors=None, batch=BATCH):
        ray = _ray()
        self.ray, self.model_name, self.batch, self.started_here = ray, model_name, batch, False
        if not ray.is_initialized():
            _check_reachable(address)
            try:
                ray.init(address=None if address == "auto" else address, include_dashboard=False,
                         logging_level=logging.ERROR, log_to_driver=False)
            except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError... by situation
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise FacegateError(f"--ray {address}: cannot reach a Ray cluster ({reason})") from None
            self.started_here = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.worker_class = ray.remote(num_cpus=CPUS_PER_ACTOR)(_Worker)
        self.actors = [self._new_actor() for _ in range(actors or max(1, cpus // CPUS_PER_ACTOR))]
        self.replaced = 0

    def _new_actor(self):
        return self.worker_class.remote(self.model_name, CPUS_PER_ACTOR)

    def encode(self, paths):
        """ImageFaces of `paths`, batch by batch as they are done (not in the order given)."""
        paths = list(paths)
        queue = deque(paths[start:start + self.batch] for start in range(0, len(paths), self.batch))
        pending = {}  # task -> (actor, batch)
        slots = [actor for actor in self.actors for _ in range(IN_FLIGHT)]
        while queue or pending:
            while slots and queue:
                actor, batch = slots.pop(), queue.popleft()
                pending[actor.encode.remote(batch)] = (actor, batch)
            (task,), _ = self.ray.wait(list(pending), num_returns=1)
            actor, batch = pending.pop(task)
            try:
                results = self.ray.get(task)
            except self.ray.exceptions.RayActorError:
                queue.appendleft(batch)
                slots = [slot for slot in slots if slot is not actor]
                if actor in self.actors:  # its other batch fails too, and finds it replaced already
                    slots.extend([self._replace(actor)] * IN_FLIGHT)
                continue
            slots.append(actor)
            yield from results

    def _replace(self, dead):
        """A new actor in place of `dead`, returned."""
        self.replaced += 1
        if self.replaced > MAX_REPLACEMENTS:
            raise FacegateError(f"Ray actors died {self.replaced} times in this scan: see the cluster's logs")
        self.actors.remove(dead)
        self.actors.append(self._new_actor())
        return self.actors[-1]

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for actor in self.actors:
            self.ray.kill(actor)
        if self.started_here:
            self.ray.shutdown()
