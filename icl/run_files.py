"""The names of a run folder's files: their one definition, and nothing else.

This module only names the files; what each holds, and how a run's folder is read and written, is
:mod:`icl.run_folder`'s (the tensor formats are :mod:`icl.checkpoint`'s). It imports nothing, so both of
those modules can name the files without importing each other.

* ``state.safetensors`` - the resumable state, rewritten at every checkpoint;
* ``model.safetensors`` - the final weights, written once, when the run finishes;
* ``config.json`` - the header: the config, provenance, status and one record per session;
* ``loss.csv`` and ``eval.csv`` - the training-loss log and the emergence log;
* ``MANIFEST.sha256`` - SHA-256 of a finished run's files, checked whenever they are loaded.
"""

__all__ = [
    "STATE_FILE",
    "WEIGHTS_FILE",
    "HEADER_FILE",
    "LOSS_FILE",
    "EVAL_FILE",
    "MANIFEST_FILE",
    "RUN_FILES",
]

STATE_FILE = "state.safetensors"
WEIGHTS_FILE = "model.safetensors"
HEADER_FILE = "config.json"
LOSS_FILE = "loss.csv"
EVAL_FILE = "eval.csv"
MANIFEST_FILE = "MANIFEST.sha256"
# the files that carry a run to another machine (the lock stays behind), in the order they are put in place:
# the state first (a resumed run reads only it), the finished weights and their manifest last, so a cut-off
# copy never shows a finished run over an older state
RUN_FILES = (STATE_FILE, HEADER_FILE, LOSS_FILE, EVAL_FILE, WEIGHTS_FILE, MANIFEST_FILE)
