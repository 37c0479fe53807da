"""The guided capture of `liveness calibrate --from SOURCE`: the camera records what a calibration needs, a step
at a time, each announced with what to present and for how long, and saved as recordings are laid out
(datasets.site_samples): live/person-K/, attack/print/, attack/screen-photo/, attack/screen-video/."""
import time
from pathlib import Path

from .datasets import FRAME_SECONDS

def steps(people):
    """(folder, what to present) of each step of a capture with `people` people."""
    live = [(f"live/person-{k}", f"person {k} of {people}: walk up to the camera from a few steps away and look at "
                                 "it, turning your head a little") for k in range(1, people + 1)]
    return live + [
        ("attack/print/photo-1", "hold a printed photo of a face up to the camera, moving it a little"),
        ("attack/screen-photo/phone-1", "hold up a phone or a tablet showing a photo of a face"),
        ("attack/screen-video/phone-2", "hold up a phone or a tablet playing a video of a face"),
    ]


def guided_capture(source, folder, people, seconds, say, get_ready):
    """Record each of steps(people) for `seconds` from the camera `source` (a frame every FRAME_SECONDS) into
    `folder`, saying what to do before each and waiting `get_ready` seconds (time to step up, or to pick up the
    photo or the phone)."""
    import click
    from PIL import Image

    from ..watch.video import VideoSource

    folder = Path(folder)
    with VideoSource(source, realtime=True) as video:
        frames = iter(video)
        for number, (where, what) in enumerate(steps(people), start=1):
            say(f"step {number} of {people + 3}: {what}: recording for {seconds:g} s in {get_ready:g} s")
            _skip(frames, get_ready)
            target = folder / where
            target.mkdir(parents=True, exist_ok=True)
            started, last, saved = time.monotonic(), None, 0
            with click.progressbar(length=int(seconds * 10), label=f"recording step {number}",
                                   file=click.get_text_stream("stderr")) as bar:
                for frame in frames:
                    now = time.monotonic()
                    if now - started >= seconds:
                        break
                    if last is None or now - last >= FRAME_SECONDS:
                        Image.fromarray(frame.image).save(target / f"{saved:04d}.jpg", quality=95)
                        last, saved = now, saved + 1
                    bar.update(int((now - started) * 10) - bar.pos)
            if not saved:
                from ..errors import FacegateError

                raise FacegateError(f"{video.name}: no frame came from the camera during step {number}")


def _skip(frames, seconds):
    """Let `seconds` of the camera's frames go by (a live source keeps only its newest frame)."""
    until = time.monotonic() + seconds
    for _ in frames:
        if time.monotonic() >= until:
            return
