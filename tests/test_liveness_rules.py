"""The liveness rules at a door camera's frame rate (facegate.liveness: DENY and CONFIRM in seconds of evidence),
on real clips through the real models: a live person misjudged for a moment is not refused for the visit, a
moment of blur does not keep them out, a small face's sub-pixel jitter is not a flat photo's motion, and the
liveness that opens a door is the liveness of the face that makes its identity (the swap: a live accomplice,
then the victim's photo in the same place, opens nothing)."""
import cv2
import numpy as np

from conftest import DATA, run_facegate
from watching import CLIP, events_of

DEVEL = DATA / "pad" / "replayattack-devel" / "videos"
VICTIM = "client118"
REPLAY = DEVEL / f"attack_mobile_{VICTIM}_session01_mobile_video_controlled__fixed.mp4"
"""A phone replaying the victim's video, which the texture cue cannot tell (its frames read 0.2-0.85: pending)."""
ACCOMPLICE = DEVEL / "client010_session01_webcam_authenticate_controlled_1.mp4"
"""A live person nobody enrolled, whose face is where the victim's replay is (their boxes overlap)."""


def rgb_frames(clip):
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, pixels = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_a_live_accomplice_then_the_victims_photo_in_the_same_place_opens_nothing(model, tmp_path):
    """0.3 s of the accomplice's live face (judged live), then the victim's replay held where the face was: one
    track, whose identity comes from the replay's frames and whose liveness came from the accomplice's. With the
    liveness not bound to the identity's frames (before issue 34) it opened for the victim at 0.7 s."""
    from facegate import liveness
    from facegate.matching import LiveGallery
    from facegate.watch.video import Frame
    from facegate.watch.watcher import Watcher

    db = tmp_path / "db"
    assert run_facegate("--db", db, "enroll", VICTIM, DEVEL.parent / "enroll" / f"{VICTIM}.jpg").returncode == 0

    def probability(image):
        return liveness.live_probability(image, model.detect(image)[0])

    accomplice = rgb_frames(ACCOMPLICE)[:3]
    assert all(probability(image) >= liveness.LIVE_FROM for image in accomplice)
    photo = [image for image in rgb_frames(REPLAY) if liveness.ATTACK_BELOW <= probability(image) < liveness.LIVE_FROM]
    assert len(photo) >= 10
    events = []
    watcher = Watcher(model, LiveGallery(db, model.name), "swap", lambda record, frame: events.append(record),
                      lambda message: None)
    for index, image in enumerate(accomplice + [image for image in photo for _ in range(5)]):  # 10 frames/s
        watcher.process(Frame(image, index / 10, index))
    watcher.finish()
    assert len({e["track"] for e in events}) == 1  # one visit: the swap happened in one place
    assert not any(e["opens"] for e in events), events
    assert [e["event"] for e in events if e["event"] != "left"] == ["unknown"]


def test_a_live_person_misjudged_for_a_moment_is_not_refused_for_the_visit(video_db):
    """The dev clip at its full 29.97 frames/s: the first person's face reads as an attack for a moment (two
    judged frames in a row, at 0.67 and 0.77 s), which the frame-count rule made a `spoof` for the visit. In
    seconds the evidence does not hold (DENY_SECONDS): nobody in the clip is a spoof, and Miranda opens."""
    result = run_facegate("--db", video_db, "watch", CLIP, "--json")
    assert result.returncode == 0, result.stderr
    decisions = [e for e in events_of(result.stdout) if e["event"] != "left"]
    assert not [e for e in decisions if e["event"] == "spoof"], decisions
    assert [(e["identity"], e["live"]) for e in decisions if e["opens"]] == [("lin", True)]


def test_a_moment_of_blur_does_not_keep_a_live_person_out(video_db, tmp_path):
    """0.3 s of heavy blur (the camera refocusing) as Miranda's close-up begins (2.7-3.0 s), as MJPEG: he still
    opens, within a second of the blur's end."""
    blurred = tmp_path / "blurred.avi"
    capture = cv2.VideoCapture(str(CLIP))
    writer = None
    index = 0
    while True:
        ok, pixels = capture.read()
        if not ok:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(blurred), cv2.VideoWriter_fourcc(*"MJPG"), 29.97, pixels.shape[1::-1])
        writer.write(cv2.GaussianBlur(pixels, (0, 0), 8) if 2.7 <= index / 29.97 < 3.0 else pixels)
        index += 1
    writer.release()
    result = run_facegate("--db", video_db, "watch", blurred, "--json")
    opened = [e for e in events_of(result.stdout) if e["opens"]]
    assert [(e["identity"], e["live"]) for e in opened] == [("lin", True)]
    assert opened[0]["time"] < 4.0


def test_a_small_faces_sub_pixel_jitter_is_not_the_motion_of_a_flat_photo(model):
    """A 48-pixel face whose whole frame shifts by 1.2 pixels (a codec's jitter, a still camera's vibration):
    everything moved as one plane, by less than the motion cue can tell from noise. Before MIN_MOTION_PIXELS the
    pair counted as flat (its ring within FIT_PIXELS of the face's homography) and two such made a spoof."""
    from facegate.liveness import motion

    frame = rgb_frames(CLIP)[90]
    face = model.detect(frame)[0]
    scale = 48 / face.box[2]
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    box = tuple(int(round(v * scale)) for v in face.box)
    shifted = cv2.warpAffine(small, np.float32([[1, 0, 1.2], [0, 1, 0]]), small.shape[1::-1],
                             borderMode=cv2.BORDER_REPLICATE)
    reference = motion.Reference(motion.grey_of(small), box, 0.0)
    assert motion.moves_flat(reference, motion.grey_of(shifted)) is None
    moved = cv2.warpAffine(small, np.float32([[1, 0, 6.0], [0, 1, 0]]), small.shape[1::-1],
                           borderMode=cv2.BORDER_REPLICATE)  # a photo carried across the view: flat
    assert motion.moves_flat(reference, motion.grey_of(moved)) is True
