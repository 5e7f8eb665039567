"""The top layer: the command line, the study's design and the DVC stage wiring.

Only this package knows about paths, ``dvc.yaml`` and the command line; below it ``pipeline``
(raw -> clean), ``analyses`` (clean -> results) and ``reporting`` (results -> documents).
"""
