"""verify / who_is_it on the seed scenario through the real model, and the triplet loss."""
import os
import subprocess
import sys

import numpy as np
import pytest

import facegate
from facegate.errors import DatabaseError, UnknownIdentityError
from facegate.matching import Gallery, nearest

from conftest import IMAGES


def test_camera_0_verifies_as_younes(staff_encodings, model):
    dist, door_open = facegate.verify(IMAGES / "camera_0.jpg", "younes", staff_encodings, model)
    assert door_open is True
    assert dist < 0.6


def test_camera_2_is_not_kian(staff_encodings, model):
    dist, door_open = facegate.verify(IMAGES / "camera_2.jpg", "kian", staff_encodings, model)
    assert door_open is False and dist > 1.0


def test_who_is_it_camera_0_is_younes(staff_encodings, model):
    min_dist, identity = facegate.who_is_it(IMAGES / "camera_0.jpg", staff_encodings, model)
    assert identity == "younes" and min_dist < 0.6


def test_who_is_it_on_a_saved_database(staff_db, model):
    database = facegate.Database.load(staff_db)
    min_dist, identity = facegate.who_is_it(IMAGES / "camera_3.jpg", database, model)
    assert identity == "bertrand" and min_dist < facegate.THRESHOLD


def test_stranger_is_nobody(staff_encodings, model):
    others = {name: vector for name, vector in staff_encodings.items() if name != "younes"}
    min_dist, identity = facegate.who_is_it(IMAGES / "camera_0.jpg", others, model)
    assert identity is None and min_dist >= facegate.THRESHOLD


def test_threshold_argument_and_stored_threshold_decide(staff_db, model):
    database = facegate.Database.load(staff_db)
    dist, door_open = facegate.verify(IMAGES / "camera_0.jpg", "younes", database, model, threshold=0.05)
    assert door_open is False and dist > 0.05
    database.set_threshold(0.2)
    assert facegate.verify(IMAGES / "camera_0.jpg", "younes", database, model)[1] is False
    assert facegate.verify(IMAGES / "camera_0.jpg", "younes", database, model, threshold=0.7)[1] is True


def test_names_match_exactly(staff_encodings, model):
    for claim in ("Younes", "youne", "younes ", ""):
        with pytest.raises(UnknownIdentityError):
            facegate.verify(IMAGES / "camera_0.jpg", claim, staff_encodings, model)


def test_empty_database_never_opens(model, tmp_path):
    empty = facegate.Database.load(tmp_path / "none")
    with pytest.raises(UnknownIdentityError):
        facegate.verify(IMAGES / "camera_0.jpg", "younes", empty, model)
    with pytest.raises(DatabaseError, match="empty"):
        facegate.who_is_it(IMAGES / "camera_0.jpg", empty, model)


def test_verify_of_a_crowd_decides_on_the_main_face_unless_one_face_is_required(model):
    """bbt1.jpg: Howard is the most central of the large faces, Sheldon's face is the largest. Each is enrolled
    from their own face crops (other photos): verify answers for Howard's face, whoever is claimed."""
    from conftest import DATA

    crowd = DATA / "bbt" / "bbt1.jpg"
    enrolled = {person: np.stack([r.faces[0].embedding for r in facegate.encode_images(
        sorted((DATA / "bbt" / person).iterdir()), model)]) for person in ("howard", "sheldon")}
    faces = facegate.encode_images([crowd], model)[0].faces
    assert len(faces) == 5 and faces[0].area < max(face.area for face in faces)  # the centre rule is at work
    sheldons_own_face = min(np.linalg.norm(enrolled["sheldon"] - faces[1].embedding, axis=1))
    assert sheldons_own_face == pytest.approx(0.849, abs=1e-3)

    dist, door_open = facegate.verify(crowd, "howard", enrolled, model)
    assert door_open and dist == pytest.approx(0.655, abs=1e-3)
    dist, door_open = facegate.verify(crowd, "sheldon", enrolled, model)
    assert not door_open and dist == pytest.approx(1.277, abs=1e-3)  # Howard's face, not Sheldon's at 0.849
    with pytest.raises(facegate.MultipleFacesError, match="bbt1.jpg"):
        facegate.verify(crowd, "howard", enrolled, model, require_single_face=True)


def test_nan_embedding_never_opens_the_door():
    from facegate.matching import verify_encoding

    gallery = Gallery(np.array(["a"], dtype=object), np.eye(1, 4, dtype=np.float32))
    assert verify_encoding(np.full(4, np.nan, np.float32), "a", gallery, 0.7) == (pytest.approx(np.nan, nan_ok=True), False)
    with pytest.raises(UnknownIdentityError):
        verify_encoding(np.eye(1, 4, dtype=np.float32)[0], "A", gallery, 0.7)


def test_database_of_another_model_is_refused(staff_db, model):
    database = facegate.Database.load(staff_db)
    database.model = "facenet512"
    with pytest.raises(DatabaseError, match="facenet512"):
        facegate.verify(IMAGES / "camera_0.jpg", "younes", database, model)


# The tests below exercise matching arithmetic only; they use hand-made vectors and no model.

def test_nearest_is_one_matrix_search_and_reports_exact_l2():
    rng = np.random.default_rng(0)
    gallery_vectors = rng.normal(size=(1000, 128)).astype(np.float32)
    gallery_vectors /= np.linalg.norm(gallery_vectors, axis=1, keepdims=True)
    names = [f"p{i % 250}" for i in range(1000)]
    gallery = Gallery(np.array(names, dtype=object), gallery_vectors)
    probe = gallery_vectors[637] + 0.01 * rng.normal(size=128).astype(np.float32)
    probe /= np.linalg.norm(probe)
    match = nearest([probe], gallery, 0.7)[0]
    assert match.identity == names[637]
    assert match.distance == pytest.approx(float(np.linalg.norm(gallery_vectors - probe, axis=1).min()), abs=1e-6)


def test_nan_distance_never_matches():
    gallery = Gallery(np.array(["a"], dtype=object), np.eye(1, 4, dtype=np.float32))
    match = nearest([np.full(4, np.nan, np.float32)], gallery, 0.7)[0]
    assert match.identity is None


@pytest.mark.parametrize("value", [0, -0.1, 2.01, float("nan"), float("inf")])
def test_thresholds_outside_the_distance_range_are_refused(value):
    from facegate.matching import resolve_threshold

    with pytest.raises(DatabaseError, match="threshold"):
        resolve_threshold(value)


def test_triplet_loss_passes_the_seed_unit_test():
    import tensorflow as tf

    y_true = (None, None, None)
    y_pred = (tf.keras.random.normal([3, 128], mean=6, stddev=0.1, seed=1),
              tf.keras.random.normal([3, 128], mean=1, stddev=1, seed=1),
              tf.keras.random.normal([3, 128], mean=3, stddev=4, seed=1))
    loss = facegate.triplet_loss(y_true, y_pred)
    assert tf.is_tensor(loss) and loss.shape == () and float(loss) > 0
    assert facegate.triplet_loss(y_true, ([1., 1.], [1., 1.], [1., 1.]), 5) == 5
    assert facegate.triplet_loss(y_true, ([1., 1.], [1., 1.], [0., 0.]), 3) == 1
    assert facegate.triplet_loss(y_true, ([1., 1.], [0., 0.], [1., 1.]), 0) == 2
    assert facegate.triplet_loss(y_true, ([0., 0.], [0., 0.], [0., 0.]), -2) == 0
    assert facegate.triplet_loss(y_true, ([[1., 0.], [1., 0.]], [[1., 0.], [1., 0.]], [[0., 1.], [0., 1.]]), 3) == 2
    assert facegate.triplet_loss(y_true, ([[1., 1.], [2., 0.]], [[0., 3.], [1., 1.]], [[1., 0.], [0., 1.]]), 1) == 5
    assert float(facegate.triplet_loss(y_true, ([1., 1.], [1., 1.], [1., 1.]))) == pytest.approx(0.2)


def test_a_bystander_about_as_large_at_the_edge_does_not_take_the_subjects_place(model):
    """LFW's Princess_Masako_0001 shows a second face at the left edge, a little larger than hers."""
    from conftest import DATA

    folder = DATA / "lfw-devtrain" / "images" / "Princess_Masako"
    crowd, portrait = folder / "Princess_Masako_0001.jpg", folder / "Princess_Masako_0002.jpg"
    assert len(facegate.encode_images([crowd], model)[0].faces) == 2
    dist, door_open = facegate.verify(crowd, "masako", {"masako": facegate.img_to_encoding(portrait, model)}, model)
    assert door_open, dist


@pytest.mark.parametrize("preset, expected", [(None, "4"), ("28", "28")])
def test_numpy_threads_stop_spinning_after_a_search_unless_the_user_said_otherwise(preset, expected):
    # OpenBLAS's threads spinning after a gallery search took the cores from the next picture's networks
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    shown = subprocess.run([sys.executable, "-c", "import facegate, os; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"],
                           capture_output=True, text=True, env=env, timeout=120, check=True)
    assert shown.stdout.strip() == expected
