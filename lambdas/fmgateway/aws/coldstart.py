"""Cold start without garbage-collector pauses.

Importing boto3 and building clients allocates hundreds of thousands of objects; the cyclic GC then runs
full collections over them while the sandbox initialises (~30 ms of a ~200 ms cold start here, see
``make bench``). ``paused_gc`` turns collection off for the duration and then freezes what was built, so
those long-lived objects are never scanned again, which also shortens every later collection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # everything built so far lives as long as the sandbox
        if enabled:
            gc.enable()
