"""Tweet sentiment: the ML logic of the pipeline as plain, typed Python functions.

Nothing in this package imports kfp: the files in ``components/`` wrap these functions
as Kubeflow components, and the tests call them directly.
"""

from tweet_sentiment.core.labels import ID2LABEL, LABEL2ID, LABELS

__version__ = "0.2.0"

__all__ = ["ID2LABEL", "LABEL2ID", "LABELS", "__version__"]
