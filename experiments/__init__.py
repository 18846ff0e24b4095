"""Experiments on top of the library: the searches and probes that sized and questioned the study.

Each module is one experiment with its own dated tries, writing into its own folder under
``data/sizing/`` (never a study run), and runnable from the repository root:

* :mod:`experiments.sizing` - the ``cpu`` preset's sizing sweep and the d = 10 search (named variants of
  a run trained side by side, scored on fresh prompts; warm starts widened from another scale's run):
  ``python -m experiments.sizing launch|score|curves|pack``;
* :mod:`experiments.c1_search` - issue 35's search for the training lever that leads the w = 0.5
  mixture to select: ``python -m experiments.c1_search steps|score|figure FOLDER``;
* :mod:`experiments.probe` - issue 40's probe (was a committed run still learning when it stopped?):
  ``python -m experiments.probe start|train|score``.

They import the library (``icl``); the library never imports them (tests/test_layout.py), as minGPT's
``projects/`` sit beside ``mingpt/``. They are not installed with the package: run them from a checkout.
"""
