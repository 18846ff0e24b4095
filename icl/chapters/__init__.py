"""The study's chapters: what each notebook evaluates and how its claims are judged.

One module per notebook, named after it, holding that chapter's baselines (keyed by their
own names, :func:`icl.baselines.keyed`, with constants beside them), its evaluation and its verdicts:

* :mod:`.model_selection` (01): dense/sparse runs on dense and sparse prompts, C1-C3;
* :mod:`.sparsity_sweep` (02): error against nnz, C4-C5;
* :mod:`.nonlinear_mixtures` (03): linear + ReLU-network mixtures, C6;
* :mod:`.convex_combinations` (04): lines, sines and their convex combinations, C7a-C7b;
* :mod:`.extreme_functions` (05): far outside the pretraining distribution, C8;
* :mod:`.rare_and_conditional` (06): rarely seen classes and task-family instructions, R1a, R1b, R2
  (small scale).

What they share: :mod:`.notebook` (a notebook's setup, :func:`open_chapter`, and the
parameter and run checks), :mod:`.verdict` (:class:`Verdict` and its :class:`Outcome`, how a part is
decided, the verdict cell's output), :mod:`.preconditions` (a claim NOT TESTED where its premise fails),
:mod:`.selection` (the selection cost of C1, C6, C7a),
:mod:`.sweeps` (error against one parameter of the prompt distribution) and :mod:`.stages`
(each chapter's prompt sets drawn again, fresh, for a part's second stage).
"""
