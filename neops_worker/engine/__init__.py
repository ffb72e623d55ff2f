"""The engine as the worker sees it: the wire DTOs (``wire``), the client, its retries and answers.

httpx imports its own command-line tool (``httpx._main``, which loads click, rich and pygments)
whenever those are installed, and they are: our CLI needs rich. The worker never runs httpx's
tool, so it is marked absent before httpx is first imported; httpx then falls back to a ``main``
that says the tool is not available. That keeps about 6 MiB of memory and some 40 ms of start-up
out of every worker process.
"""

import sys

# None in sys.modules is the import system's own "not available" mark.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
