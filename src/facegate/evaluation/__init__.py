"""Accuracy that users can measure, through the same matching code as verify and who_is_it.

- pairs.py (1:1): LFW-style pairs files; ROC summary, TAR at fixed FAR, 10-fold accuracy when the file has folds.
- gallery.py (1:K, open set): enroll a gallery, identify probes, count the right, the refused and the strangers
  let in; and calibration: the threshold that holds a target false-accept rate on labelled photos or the
  enrolled people.
- visits.py (watch): frames of one person decided once, as the door camera decides; genuine, impostor and
  stranger visits, in identify and in claim mode.
- clusters.py: a clustering's quality against the true people.
- rates.py: what every measure shares (TAR/FAR, ROC, the threshold for a FAR).

A pair or probe whose face is not detected counts as refused: that is what the door would do.
"""
from .clusters import cluster_quality
from .gallery import (calibrate, calibration_distances, embeddings_of_database, encode_people, evaluate_gallery,
                      labelled_photos, read_truth)
from .pairs import PairSet, evaluate_pairs, main_face_encodings, pair_distances, read_pairs
from .rates import (FAR_TARGETS, accuracy, best_threshold, plot_roc, rates, roc_curve, roc_summary, round_down,
                    threshold_for_far)
from .visits import VisitFrames, decide_visit, evaluate_visits, without

__all__ = [
    "FAR_TARGETS",
    "rates",
    "accuracy",
    "best_threshold",
    "threshold_for_far",
    "roc_summary",
    "roc_curve",
    "plot_roc",
    "round_down",
    "PairSet",
    "read_pairs",
    "main_face_encodings",
    "pair_distances",
    "evaluate_pairs",
    "read_truth",
    "labelled_photos",
    "encode_people",
    "evaluate_gallery",
    "calibration_distances",
    "calibrate",
    "embeddings_of_database",
    "VisitFrames",
    "decide_visit",
    "without",
    "evaluate_visits",
    "cluster_quality",
]
