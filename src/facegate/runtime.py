"""Run converted networks (.tflite files, see conversion.py) with LiteRT, without importing TensorFlow."""
import os

import numpy as np

from .errors import ModelError
from .quiet import silenced_stderr


class Network:
    """One converted network: call it with a float32 batch, get its outputs as a tuple of arrays.

    Not thread-safe (one interpreter, resized to each batch's shape): callers serialise their calls."""

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            with silenced_stderr():
                self._interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count())
                self._run = self._interpreter.get_signature_runner()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: cannot load the converted network ({exc})") from None
        signature = self._interpreter.get_signature_list()["serving_default"]
        (self._input,) = signature["inputs"]
        self._outputs = sorted(signature["outputs"], key=lambda name: int(name.rsplit("_", 1)[1]))
        self._called = False

    def __call__(self, batch):
        batch = {self._input: np.ascontiguousarray(batch, dtype=np.float32)}
        if self._called:
            results = self._run(**batch)
        else:
            with silenced_stderr():  # LiteRT announces its XNNPACK delegate on fd 2 on the first run
                results = self._run(**batch)
            self._called = True
        return tuple(results[name] for name in self._outputs)
