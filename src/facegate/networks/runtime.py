"""Run converted networks (.tflite files, see conversion.py) with LiteRT, without importing TensorFlow."""
import os
from collections import OrderedDict

import numpy as np

from ..errors import ModelError
from .quiet import silenced_stderr


class Network:
    """One converted network: call it with a float32 batch, get its outputs as a tuple of arrays.

    LiteRT plans the network again whenever an interpreter's input shape changes (~20-40 ms for a 614x460 PNet
    input, 2-3x as long as running it). One shared interpreter takes every shape; with `kept_elements` > 0, a
    shape that comes again (among the last SHAPES_REMEMBERED calls) gets an interpreter of its own if the kept
    shapes' inputs then hold at most `kept_elements` numbers in all (an interpreter's memory grows with its
    input, ~70 bytes per input number for PNet, plus ~1 MB). So PNet's tile shapes (detection.PNET_TILE_SIDES)
    and the pyramid of a camera's frames are planned once each. Not thread-safe: callers serialise their calls
    (different Networks may run at once)."""

    SHAPES_REMEMBERED = 64

    def __init__(self, path, threads=None, kept_elements=0):
        self._path, self._threads, self._kept_elements = path, threads or os.cpu_count(), kept_elements
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
        self._calls, self._last_call = 0, {}
        """Calls so far, and the call each kept shape last served."""

    def _load(self):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with silenced_stderr():
                return Interpreter(model_path=str(self._path), num_threads=self._threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{self._path}: cannot load the converted network ({exc})") from None

    def planned(self, shape):
        """Whether a call with input `shape` runs on an interpreter of its own: one kept for it, or one made now
        because the shape came before and fits the budget. A shape not kept is noted as seen (a caller may ask,
        then run the input another way, and still have the shape kept when it recurs)."""
        if shape in self._kept:
            return True
        if shape in self._seen and self._make_room(int(np.prod(shape))):  # it recurs: an interpreter of its own
            del self._seen[shape]
            runner = self._kept[shape] = self._load().get_signature_runner()
            self._last_call[shape] = self._calls
            self._never_ran.add(runner)
            return True
        self._seen[shape] = None
        self._seen.move_to_end(shape)
        if len(self._seen) > self.SHAPES_REMEMBERED:
            self._seen.popitem(last=False)
        return False

    def _runner(self, shape):
        self._calls += 1
        if not self.planned(shape):
            return self._shared
        self._kept.move_to_end(shape)
        self._last_call[shape] = self._calls
        return self._kept[shape]

    def _make_room(self, size):
        """Whether `size` more input numbers fit the budget, after dropping the kept shapes unused for the last
        SHAPES_REMEMBERED calls (shapes still in use are never dropped: more recurring shapes than the budget
        holds would otherwise evict each other at every call)."""
        used = sum(int(np.prod(shape)) for shape in self._kept)
        for shape in list(self._kept):
            if used + size <= self._kept_elements or self._last_call[shape] > self._calls - self.SHAPES_REMEMBERED:
                break
            del self._kept[shape], self._last_call[shape]
            used -= int(np.prod(shape))
        return used + size <= self._kept_elements

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
