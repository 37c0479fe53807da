"""Scanning a photo archive: where its images are encoded, on this machine (local.py) or on a Ray cluster
(on_ray.py); the decisions on each (run.py); the --output file that --resume reads (resumable.py).

Both encoders take the image paths and yield one faces.pipeline.ImageFaces per image (its faces with their
embeddings, or the error that stopped it); run.Scan decides on them (the gallery and the threshold stay with the
command), so a scan's outputs, formats and --resume are the same wherever the images were encoded."""
from .local import encode_here

__all__ = ["encode_here", "encode_on_ray"]


def encode_on_ray(paths, model_name, address):
    """ImageFaces of `paths` encoded by a pool of Ray actors (see on_ray.RayEncoder), as they are done."""
    from .on_ray import RayEncoder

    with RayEncoder(model_name, address) as encoder:
        yield from encoder.encode(paths)
