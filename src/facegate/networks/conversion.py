"""Convert the Keras networks to .tflite files once per cache: FaceNet with its verified weights, and mtcnn's
PNet, RNet and ONet with the weights that package ships.

Only this module imports TensorFlow (and only when a conversion is missing or damaged): every other process
runs the converted files with LiteRT (runtime.py), which starts in a fraction of a second."""
import hashlib
import os
import tempfile
from importlib import metadata

from ..errors import ModelError
from ..files import write_atomically
from .models import ONET_SIDE, RNET_SIDE
from .quiet import import_tensorflow, silenced_stderr
from .weights import cache_dir, say, sha256_of, weights_path

CONVERSION_FORMAT = 1
"""Part of every converted file's name: raise it when the conversion changes, so that old files are redone."""
DETECTOR_STAGES = (("pnet", None), ("rnet", RNET_SIDE), ("onet", ONET_SIDE))
"""mtcnn's networks in stage order, with the side of the square input each takes (PNet: any size)."""


def embedding_network_path(spec, weights=None):
    """The converted embedding network of `spec`, converted now from the verified weights if need be.

    `weights` (or $FACEGATE_WEIGHTS) names a local weights file, which is checked even when the conversion is
    cached (both come from the weights of one hash)."""
    source = weights_path(spec, weights) if weights or os.environ.get("FACEGATE_WEIGHTS") else None
    target = cache_dir() / spec.name / f"{spec.name}-{spec.weights_sha256[:12]}-v{CONVERSION_FORMAT}.tflite"
    if not _intact(target):
        source = source or weights_path(spec, weights)
        size = spec.input_size
        say(f"first use: converting {spec.name} for the LiteRT runtime (about a minute, once)")
        _convert(_facenet(spec, source), (None, size, size, 3), target)
    return target


def detector_network_paths():
    """mtcnn's three networks, converted now if need be: PNet, RNet, ONet paths."""
    version = metadata.version("mtcnn")
    folder = cache_dir() / "mtcnn"
    targets = [folder / f"mtcnn-{version}-{name}-v{CONVERSION_FORMAT}.tflite" for name, _ in DETECTOR_STAGES]
    if not all(_intact(target) for target in targets):
        say("first use: converting the MTCNN face detector for the LiteRT runtime (once)")
        for stage, (_, side), target in zip(_mtcnn_stages(), DETECTOR_STAGES, targets):
            _convert(stage.model, (None, side, side, 3), target)
    return targets


def _intact(path):
    """Whether the converted file exists and still has the hash recorded beside it when it was written."""
    recorded = path.with_name(path.name + ".sha256")
    try:
        return path.is_file() and recorded.read_text().strip() == sha256_of(path)
    except (OSError, ModelError):
        return False


def _convert(network, input_shape, target):
    tf = import_tensorflow()
    with silenced_stderr():
        import keras

        archive = keras.export.ExportArchive()
        archive.track(network)
        archive.add_endpoint(
            "serve", lambda batch: network(batch, training=False),
            input_signature=[tf.TensorSpec(input_shape, tf.float32)],
        )
        with tempfile.TemporaryDirectory(prefix="facegate-export-") as folder:
            archive.write_out(folder, verbose=False)
            try:
                converted = tf.lite.TFLiteConverter.from_saved_model(folder).convert()
            except Exception as exc:  # noqa: BLE001 - the converter raises many kinds; all mean the same here
                raise ModelError(f"cannot convert {network.name} for LiteRT ({exc})") from None
    _write_atomically(target, converted)
    _write_atomically(target.with_name(target.name + ".sha256"), hashlib.sha256(converted).hexdigest().encode())


def _write_atomically(path, data):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    except OSError as exc:
        raise ModelError(f"{path}: cannot write the converted network ({exc.strerror or exc})") from None


def _facenet(spec, weights_file):
    import_tensorflow()
    with silenced_stderr():
        from keras_facenet.inception_resnet_v1 import InceptionResNetV1

        size = spec.input_size
        network = InceptionResNetV1(input_shape=(size, size, 3), classes=spec.embedding_size)
    _load_weights_by_name(network, weights_file)
    return network


def _mtcnn_stages():
    import_tensorflow()
    with silenced_stderr():
        from mtcnn import MTCNN

        return MTCNN().stages


def _load_weights_by_name(network, path):
    """Copy every weighted layer's arrays from a Keras 2 HDF5 file (full model or weights only) by layer name."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            root = handle["model_weights"] if "model_weights" in handle else handle
            for layer in network.layers:
                if not layer.weights:
                    continue
                group = root[layer.name]
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
                layer.set_weights([group[n][()] for n in names])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load weights into {network.name} ({exc})") from None

