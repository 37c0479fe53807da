"""Run converted networks (.tflite files, see conversion.py) with LiteRT, without importing TensorFlow."""
import os
from collections import OrderedDict

import numpy as np

from .errors import ModelError
from .quiet import silenced_stderr


class Network:
    """One converted network: call it with a float32 batch, get its outputs as a tuple of arrays.

    LiteRT plans the network again whenever an interpreter's input shape changes (~10 ms for a 614x460 PNet
    input, as long as running it). One shared interpreter takes every shape; with `shapes_kept` > 0, a shape
    that comes again (among the last 4 x shapes_kept seen) gets an interpreter of its own, kept for the
    `shapes_kept` most recently used such shapes: the pyramid of a camera's frames is planned once, while a
    folder of mixed sizes costs no extra memory. Not thread-safe: callers serialise their calls."""

    def __init__(self, path, threads=None, shapes_kept=0):
        self._path, self._threads, self._shapes_kept = path, threads or os.cpu_count(), shapes_kept
        interpreter = self._load()
        signature = interpreter.get_signature_list()["serving_default"]
        (self._input,) = signature["inputs"]
        self._outputs = sorted(signature["outputs"], key=lambda name: int(name.rsplit("_", 1)[1]))
        self._shared = interpreter.get_signature_runner()
        self._kept = OrderedDict()
        """Input shape -> its own signature runner, least recently used first."""
        self._seen = OrderedDict()
        """Shapes the shared interpreter ran recently (keys only)."""
        self._never_ran = {self._shared}

    def _load(self):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with silenced_stderr():
                return Interpreter(model_path=str(self._path), num_threads=self._threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self._path}: cannot load the converted network ({exc})") from None

    def _runner(self, shape):
        if shape in self._kept:
            self._kept.move_to_end(shape)
            return self._kept[shape]
        if shape in self._seen:  # it recurs: give it an interpreter of its own
            del self._seen[shape]
            if len(self._kept) >= self._shapes_kept:
                self._kept.popitem(last=False)
            runner = self._kept[shape] = self._load().get_signature_runner()
            self._never_ran.add(runner)
            return runner
        if self._shapes_kept:
            self._seen[shape] = None
            if len(self._seen) > 4 * self._shapes_kept:
                self._seen.popitem(last=False)
        return self._shared

    def __call__(self, batch):
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        run = self._runner(batch.shape)
        if run in self._never_ran:
            self._never_ran.discard(run)
            with silenced_stderr():  # LiteRT announces its XNNPACK delegate on fd 2 on an interpreter's first run
                results = run(**{self._input: batch})
        else:
            results = run(**{self._input: batch})
        return tuple(results[name] for name in self._outputs)
