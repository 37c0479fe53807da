"""facegate: offline face verification and recognition (MTCNN detection + FaceNet embeddings).

Library use, as in the notebooks it comes from:

    model = facegate.load_model()                       # facenet128; fetched and converted once
    database = facegate.Database.load("staff-db")        # or a dict {name: img_to_encoding(...)}
    dist, door_open = facegate.verify("camera_0.jpg", "younes", database, model)
    min_dist, identity = facegate.who_is_it("camera_0.jpg", database, model)   # identity None: stranger

The networks run under LiteRT; TensorFlow is imported only to convert them once (and by triplet_loss).
"""
from .db import Database, transaction
from .encoder import encode_images, img_to_encoding, load_model
from .errors import (DatabaseError, FacegateError, ImageError, ModelError, MultipleFacesError, NoFaceError,
                     UnknownIdentityError)
from .matching import THRESHOLD, verify, who_is_it
from .loss import triplet_loss
from .models import DEFAULT_MODEL, MODELS


__all__ = [
    "THRESHOLD", "DEFAULT_MODEL", "MODELS", "Database", "transaction", "load_model", "img_to_encoding",
    "encode_images", "verify", "who_is_it", "triplet_loss", "FacegateError", "ImageError", "NoFaceError",
    "MultipleFacesError", "DatabaseError", "UnknownIdentityError", "ModelError",
]
