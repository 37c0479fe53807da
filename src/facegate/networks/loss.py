"""The triplet loss FaceNet is trained with (Schroff et al. 2015)."""
from .quiet import import_tensorflow


def triplet_loss(y_true, y_pred, alpha=0.2):
    """Sum over triplets of max(|a - p|^2 - |a - n|^2 + alpha, 0); y_pred = (anchor, positive, negative)."""
    tf = import_tensorflow()
    anchor, positive, negative = (tf.convert_to_tensor(t, dtype=tf.float32) for t in y_pred[:3])
    positive_distance = tf.reduce_sum(tf.square(anchor - positive), axis=-1)
    negative_distance = tf.reduce_sum(tf.square(anchor - negative), axis=-1)
    return tf.reduce_sum(tf.maximum(positive_distance - negative_distance + alpha, 0.0))
