"""Clustering quality against the true people: pairwise precision and recall, BCubed."""
from collections import Counter

import numpy as np


def cluster_quality(predicted, truth):
    """Pairwise precision and recall, and BCubed precision, recall and F, of a clustering: `predicted` a cluster
    per face (-1: alone), `truth` the person of each face, or None for a face known only to be none of the named
    people (a stranger of celeba-dev: two strangers may be one person, so a pair of them is not counted; a stranger
    with a named person is a wrong pair). Pairwise precision: of the pairs put in one cluster, the share that are one
    person; recall: of the pairs of one person, the share put in one cluster. BCubed averages over named faces."""
    predicted = [label if label != -1 else ("alone", index) for index, label in enumerate(predicted)]
    together, strangers = {}, Counter()
    for label, person in zip(predicted, truth):
        if person is None:
            strangers[label] += 1
        else:
            together.setdefault(label, Counter())[person] += 1
    per_person = Counter(person for person in truth if person is not None)
    per_cluster = Counter(predicted)
    pairs = lambda n: n * (n - 1) // 2  # noqa: E731
    pairs_same = sum(pairs(n) for counts in together.values() for n in counts.values())
    pairs_clustered = sum(pairs(n) - pairs(strangers[label]) for label, n in per_cluster.items())
    pairs_person = sum(pairs(n) for n in per_person.values())
    precision = pairs_same / pairs_clustered if pairs_clustered else 1.0
    recall = pairs_same / pairs_person if pairs_person else 1.0
    # BCubed: per named face, the share of its cluster that is its person, and of its person that is in its cluster
    named = [(label, person) for label, person in zip(predicted, truth) if person is not None]
    b_precision = float(np.mean([together[label][person] / per_cluster[label] for label, person in named]))
    b_recall = float(np.mean([together[label][person] / per_person[person] for label, person in named]))
    return {"pairwise_precision": precision, "pairwise_recall": recall, "bcubed_precision": b_precision,
            "bcubed_recall": b_recall, "bcubed_f": 2 * b_precision * b_recall / (b_precision + b_recall)}
