"""The hostile-input corpus: defective raw files and instrument files, each with its expected outcome.

Every case starts from the hand-made mini study (``tests/fixtures/mini``, whose every row's fate
is known, see ``tests/test_ingest.py``) or from the shipped instrument library, applies one
defect, and states what the pipeline must do: stop with a clear error (exit code 2, a message
naming the file, the row or column, and the rule), or go on and quarantine or exclude exactly
the rows named, with counts that still reconcile.  ``tests/test_hostile_corpus.py`` runs them.
"""
