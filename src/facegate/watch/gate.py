"""The motion gate: whether a frame is worth a detection. A door camera looks at an empty corridor most of the
day, and an empty frame is the dearest to detect (nothing found, detection runs again on the frame enlarged).
While no face is being followed, a frame is detected only when it differs from the last detected one (frame
differencing on a small, blurred grey copy: slow changes add up), or at a glance once a second, so that someone who stands
still is found within GLANCE_SECONDS (the watcher's glance is a glance at the frame halved, detected in
full only when it shows a face). While a face is followed, every frame is detected, as before."""
import numpy as np

GLANCE_SECONDS = 1.0
"""How often a still scene is glanced at (not the door's heartbeat, heartbeat.py's HEARTBEAT_SECONDS)."""
SMALL_WIDTH = 160
"""The grey copy's width: a face of 40 px in a 640-px frame is 10 px here, 100 changed pixels."""
PIXEL_CHANGE = 15
"""Grey levels (of 255) by which a pixel of the small copy must differ to count as changed."""
MIN_CHANGED_SHARE = 0.003
"""The share of changed pixels that makes a frame worth detecting (0.3%: about a quarter of a distant face)."""


def small_grey(image):
    """The frame as a SMALL_WIDTH-wide grey copy, blurred so that sensor noise does not count as motion."""
    import cv2

    height, width = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # grey first: a third of the pixels to shrink
    small = cv2.resize(grey, (SMALL_WIDTH, max(1, round(height * SMALL_WIDTH / width))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (5, 5), 0)


class MotionGate:
    """`worth_detecting(image, time, following)` for each frame of one source, in order: why the frame is worth a
    detection ("following", "first", "motion" or "glance"), or None. `still` says whether the last frame
    looked at showed nothing worth a look (no face followed, nothing moved)."""

    def __init__(self, glance=GLANCE_SECONDS):
        self.glance = glance
        self.still = False
        self._reference = self._detected_at = None

    def worth_detecting(self, image, time, following):
        small = small_grey(image)
        if following:
            reason = "following"
        elif self._reference is None or self._reference.shape != small.shape:
            reason = "first"
        elif _changed_share(self._reference, small) >= MIN_CHANGED_SHARE:
            reason = "motion"
        elif time - self._detected_at >= self.glance:
            reason = "glance"
        else:
            reason = None
        self.still = reason in (None, "glance")
        if reason is not None:
            self._reference, self._detected_at = small, time
        return reason


def _changed_share(before, after):
    return float(np.mean(np.abs(before.astype(np.int16) - after.astype(np.int16)) > PIXEL_CHANGE))
