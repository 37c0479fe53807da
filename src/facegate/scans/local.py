"""A scan encoded on this machine: decoding the next images in a thread while the networks run on all cores."""
from ..faces.pipeline import iter_encoded


def encode_here(paths, model):
    """ImageFaces of `paths`, in order."""
    return iter_encoded(paths, model)
