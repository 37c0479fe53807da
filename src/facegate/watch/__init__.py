"""The door camera: frames from a source (video.py), faces followed across frames (tracking.py), one decision per
visit (visits.py), the loop that turns frames into events (watcher.py), and where events go (events.py: the
record and its dispatcher; sinks.py: command hook, webhook, MQTT behind one base)."""
