"""The vendor worker SDK's block-author surface, under the SDK's own module paths.

A block written for ``neops_worker_sdk`` runs here once its imports name ``neops_worker.sdk``
instead (``neops_worker port`` rewrites them): ``neops_worker_sdk.workflow`` becomes
``neops_worker.sdk.workflow``, with the same names, shapes and behaviour, and the engine client's
DTO names come from ``neops_worker.sdk.engine_client``. :mod:`neops_worker.sdk.mapping` is the one
table of every import path this package answers for.

Everything here is a thin layer over the native API (:mod:`neops_worker`): the classes are
subclasses or aliases of the native ones, so the worker discovers, registers and runs SDK-style
blocks exactly as it runs native ones. Where the SDK and the native API differ (``acquire``
receives an ``AcquireParams``, ``context.device`` is ``None`` on a job that does not run on a
device, ``Device`` is a creation wrapper), the difference lives here and nowhere else.

The SDK's connection layer (``neops_worker_sdk.connection``) is not part of this package: a block
that uses it keeps importing it from the SDK, installed beside this project.
"""
