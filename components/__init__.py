"""Kubeflow components: one thin file per pipeline step.

Each component imports only the standard library and kfp at module level, and its body
makes one lazy import of the ``tweet_sentiment`` package and one call into it.
"""
