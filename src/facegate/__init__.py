"""facegate: offline face verification and recognition (MTCNN detection + FaceNet embeddings).

Library use, as in the notebooks it comes from:

    model = facegate.load_model()                       # facenet128; fetched and converted once
    database = facegate.Database.load("staff-db")        # or a dict {name: img_to_encoding(...)}
    dist, door_open = facegate.verify("camera_0.jpg", "younes", database, model)
    min_dist, identity = facegate.who_is_it("camera_0.jpg", database, model)   # identity None: stranger

The networks run under LiteRT; TensorFlow is imported only to convert them once (and by triplet_loss).
"""
import os

# NumPy's OpenBLAS keeps its threads spinning for ~0.1 s after a large product (a gallery search of 20,000 rows or
# more), and they took the cores from the networks of the next picture: an encode right after a search took 143 ms
# instead of 90. Set before NumPy is first imported (a program that imported it earlier keeps its own setting).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .db import Database, transaction
from .faces.pipeline import encode_images, img_to_encoding, load_model
from .errors import (DatabaseError, FacegateError, ImageError, ModelError, MultipleFacesError, NoFaceError,
                     UnknownIdentityError)
from .matching import THRESHOLD, verify, who_is_it
from .networks.loss import triplet_loss
from .networks.models import DEFAULT_MODEL, MODELS


__all__ = [
    "THRESHOLD", "DEFAULT_MODEL", "MODELS", "Database", "transaction", "load_model", "img_to_encoding",
    "encode_images", "verify", "who_is_it", "triplet_loss", "FacegateError", "ImageError", "NoFaceError",
    "MultipleFacesError", "DatabaseError", "UnknownIdentityError", "ModelError",
]
