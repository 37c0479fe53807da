"""Error rates from distances: TAR/FAR at a threshold, accuracy, ROC summaries and curves, the threshold
for a target FAR."""
import numpy as np

from ..errors import FacegateError

FAR_TARGETS = (0.01, 0.001)


def rates(distances, same, threshold):
    """(TAR, FAR) when pairs closer than `threshold` are accepted."""
    accepted = distances < threshold
    return float(accepted[same].mean()) if same.any() else float("nan"), \
        float(accepted[~same].mean()) if (~same).any() else float("nan")


def accuracy(distances, same, threshold):
    return float(((distances < threshold) == same).mean())


def best_threshold(distances, same):
    """The threshold with the highest accuracy, among midpoints between consecutive finite distances."""
    finite = np.unique(distances[np.isfinite(distances)])
    candidates = np.concatenate([[1e-6], (finite[:-1] + finite[1:]) / 2, [finite[-1] + 1e-6]]) if len(finite) else [1.0]
    scores = [accuracy(distances, same, t) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def threshold_for_far(impostor_distances, far):
    """The largest threshold whose false-accept rate on these impostor distances is at most `far`."""
    ordered = np.sort(np.asarray(impostor_distances, float))
    if not len(ordered):
        raise FacegateError("no impostor pairs: a false-accept rate cannot be measured")
    allowed = int(np.floor(far * len(ordered)))
    return float(ordered[min(allowed, len(ordered) - 1)])


def roc_summary(distances, same, threshold, folds=None):
    """The figures `evaluate pairs` and `calibrate` print (see the module doc)."""
    tar, far = rates(distances, same, threshold)
    summary = {
        "pairs": int(len(same)), "genuine_pairs": int(same.sum()), "impostor_pairs": int((~same).sum()),
        "threshold": threshold, "accuracy_at_threshold": accuracy(distances, same, threshold),
        "tar_at_threshold": tar, "far_at_threshold": far,
    }
    if folds is not None:
        fold_scores = []
        for fold in np.unique(folds):
            train, test = folds != fold, folds == fold
            fold_scores.append(accuracy(distances[test], same[test], best_threshold(distances[train], same[train])))
        summary.update(best_accuracy=float(np.mean(fold_scores)), best_accuracy_std=float(np.std(fold_scores)),
                       best_accuracy_method=f"{len(fold_scores)}-fold")
    else:
        best = best_threshold(distances, same)
        summary.update(best_accuracy=accuracy(distances, same, best), best_threshold=best,
                       best_accuracy_method="threshold chosen on the same pairs")
    for target in FAR_TARGETS:
        limit = threshold_for_far(distances[~same], target)
        summary[f"tar_at_far_{target:g}"] = rates(distances, same, limit)[0]
        summary[f"threshold_at_far_{target:g}"] = limit
    return summary


def roc_curve(distances, same):
    """(FAR, TAR, thresholds) at every distinct finite distance."""
    thresholds = np.unique(distances[np.isfinite(distances)])
    points = np.array([rates(distances, same, t + 1e-9) for t in thresholds]).reshape(-1, 2)
    return points[:, 1], points[:, 0], thresholds


def plot_roc(path, distances, same, threshold, title):
    """Write the ROC curve (TAR against FAR, log scale) with the operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    far, tar, _ = roc_curve(distances, same)
    point_tar, point_far = rates(distances, same, threshold)
    floor = 0.5 / max(int((~same).sum()), 1)
    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=100)
    axes.plot(np.maximum(far, floor), tar, label="ROC")
    axes.plot([max(point_far, floor)], [point_tar], "o", color="red",
              label=f"threshold {threshold:.3f}: TAR {point_tar:.1%}, FAR {point_far:.2%}")
    axes.set_xscale("log")
    axes.set_xlim(floor, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false accept rate (impostors let in)")
    axes.set_ylabel("true accept rate (genuine people let in)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        raise FacegateError(f"{path}: cannot write the plot ({exc.strerror or exc})") from None
    finally:
        plt.close(figure)


def round_down(value, places=4):
    return float(np.floor(value * 10 ** places) / 10 ** places)


def _share(count, total):
    return float(count / total) if total else None
