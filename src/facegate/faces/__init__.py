"""From a picture to its faces: decoding (imaging.py), MTCNN detection (detection.py), alignment (alignment.py),
quality (quality.py), the FaceModel pipeline that embeds them (pipeline.py), and boxes drawn on pictures
(annotate.py)."""
