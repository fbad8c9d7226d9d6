"""Detection quality (issue 6): how often is an edited known image still found, how often is an innocent one
flagged, for every perceptual hash type and threshold. Beam-free.

- :mod:`~hashwatch.evaluation.edits`: the edit suite, each edit a named, parameterised function at several
  strengths (resize, re-encode, crop, borders, colour, blur, noise, overlays, flips, rotations, ...).
- :mod:`~hashwatch.evaluation.matchers`: what is compared: a :class:`~hashwatch.evaluation.matchers.Matcher`
  turns a known original into what a hash list holds and a query image into its candidate codes, and says how
  far apart they are (pdq, pdq with dihedral variants, phash, dhash; a new query-side matcher plugs in here).
- :mod:`~hashwatch.evaluation.corpus`: the known photos and the distractors, near-duplicates removed.
- :mod:`~hashwatch.evaluation.runner`: hashes every original, edited copy and distractor once (two processes,
  hashes cached on disk, never images) and computes all the distances.
- :mod:`~hashwatch.evaluation.metrics`: recall per matcher x edit x strength x threshold, false matches per
  comparison, the threshold choice.
- :mod:`~hashwatch.evaluation.report`: the markdown tables and the PNG plot; ``hashwatch eval`` runs it all.

- Videos (issue 19): :mod:`~hashwatch.evaluation.video_edits` (the video edit suite),
  :mod:`~hashwatch.evaluation.video_corpus` (clips grouped by original, tuning and held-back halves),
  :mod:`~hashwatch.evaluation.video_runner` and :mod:`~hashwatch.evaluation.video_report`;
  ``python -m hashwatch.evaluation.video`` (``make eval-video``) runs it all.

Nothing here writes image bytes anywhere: edited copies live in memory, caches hold hashes only. The one
exception is the reference ``vpdq`` package, which reads files only: the video evaluation writes the clips it
hashes to a temporary folder that it deletes when the reference returns.
"""
