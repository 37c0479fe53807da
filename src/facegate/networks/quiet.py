"""Keep TensorFlow, absl and Keras from writing to the user's terminal."""
import contextlib
import logging
import os
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def silenced_stderr():
    """Send file descriptor 2 (where TensorFlow's C++ code logs) to a scratch file for the block."""
    if os.environ.get("FACEGATE_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow():
    """Import TensorFlow once, with its start-up chatter silenced and its loggers set to errors only."""
    with silenced_stderr():
        import tensorflow as tf
        import absl.logging

        tf.get_logger().setLevel(logging.ERROR)
        absl.logging.set_verbosity(absl.logging.ERROR)
    return tf
