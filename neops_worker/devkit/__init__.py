"""The development kit: what block authors and tests use, and a worker in production never imports.

``local_engine`` (a development stand-in for the neops engine: HTTP app and SQLite store),
``local_client`` (the ``engine``/``submit``/``jobs``/``workers`` commands' client of it), ``demo``,
``blocktools`` (``blocks``, ``check``, ``schema``, ``exec``, ``port``), ``jobinput`` (the job inputs of
``exec`` and ``submit``) and ``reloader`` (``run --reload``). The testing kit keeps its public path,
:mod:`neops_worker.testing`.
"""
