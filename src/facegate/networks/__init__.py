"""The networks and nothing around them: the model table (models.py), the weights (weights.py), their conversion
to LiteRT files (conversion.py), the LiteRT runtime that runs them (runtime.py), TensorFlow kept quiet (quiet.py)
and FaceNet's training objective (loss.py). The pipeline that drives them is facegate.faces."""
