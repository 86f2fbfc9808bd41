"""What the C SDK peer scripts beside this file share: one JSON object per step on stdout, and
an exit that skips the C library's teardown. Imported by c_sdk_peer.py and
router_c_sdk_peer.py (Python puts a script's own directory first on the import path).
"""
import json
import os
import sys


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def finish(code):
    # The C library keeps its own threads; leave without running its teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(main):
    """Runs `main(sys.argv)`; any failure is reported as a step the Rust test can show."""
    try:
        main(sys.argv)
    except Exception as e:
        emit(step="error", error=repr(e))
        finish(1)
