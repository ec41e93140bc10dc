"""Keep TensorFlow's known, harmless C++ notices out of the command line's output.

TensorFlow's C++ runtime writes some lines straight to file descriptor 2,
before its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them:

- ``WARNING: All log messages before absl::InitializeLog() is called ...`` and
  the ``oneDNN custom operations are on`` / ``cpu_feature_guard`` notices at import;
- ``NodeDef mentions attribute use_unbounded_threadpool which is not in the op
  definition`` when a ``tf.data`` parallel map runs: the Python side of
  TensorFlow 2.21 adds an attribute its C++ ``MapDataset`` kernel predates; the
  attribute is ignored and nothing changes (the run's numbers are unaffected).

:func:`filter_stderr` routes fd 2 through a pipe and drops exactly these lines;
everything else (Python tracebacks, real TensorFlow errors) passes unchanged.
The command line turns it on for commands that import TensorFlow;
``KERASTRICKS_VERBOSE_TF=1`` turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading

BENIGN = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"),
    re.compile(r"^I0000 .*port\.cc:\d+\] oneDNN custom operations are on"),
    re.compile(r"^I0000 .*cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"),
    re.compile(r"^E0000 .*node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool"),
)

_installed = False


def is_benign(line: str) -> bool:
    return any(p.search(line) for p in BENIGN)


def filter_stderr() -> None:
    """Filter file descriptor 2 for the rest of the process (idempotent; a no-op when fd 2 is unusable)."""
    global _installed
    if _installed or os.environ.get("KERASTRICKS_VERBOSE_TF") == "1":
        return
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return
    _installed = True

    def pump() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as src:
            pending = b""
            while True:
                chunk = src.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = [ln for ln in lines if not is_benign(ln.decode("utf-8", "replace"))]
                if out:
                    os.write(real, b"\n".join(out) + b"\n")
            if pending and not is_benign(pending.decode("utf-8", "replace")):
                os.write(real, pending)

    thread = threading.Thread(target=pump, name="kerastricks-stderr", daemon=True)
    thread.start()

    def restore() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the pump drains and stops
        thread.join(timeout=2.0)

    atexit.register(restore)
