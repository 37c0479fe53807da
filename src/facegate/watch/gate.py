"""The motion gate: whether a frame is worth a detection. A door camera looks at an empty corridor most of the
day, and an empty frame is the dearest to detect (nothing found, detection runs again on the frame enlarged).
While no face is being followed, a frame is detected only when it differs from the last detected one (frame
differencing on a small, blurred grey copy), or at a heartbeat, so that someone who walked in slowly or stands
still is found within HEARTBEAT_SECONDS. While a face is followed, every frame is detected, as before."""
import numpy as np

HEARTBEAT_SECONDS = 1.0
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
    small = cv2.resize(image, (SMALL_WIDTH, max(1, round(height * SMALL_WIDTH / width))),
                       interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)


class MotionGate:
    """`worth_detecting(image, time, following)` for each frame of one source, in order."""

    def __init__(self, heartbeat=HEARTBEAT_SECONDS):
        self.heartbeat = heartbeat
        self._reference = self._detected_at = None

    def worth_detecting(self, image, time, following):
        small = small_grey(image)
        due = (following or self._reference is None or self._reference.shape != small.shape
               or time - self._detected_at >= self.heartbeat or _changed_share(self._reference, small)
               >= MIN_CHANGED_SHARE)
        if due:
            self._reference, self._detected_at = small, time
        return due


def _changed_share(before, after):
    return float(np.mean(np.abs(before.astype(np.int16) - after.astype(np.int16)) > PIXEL_CHANGE))
