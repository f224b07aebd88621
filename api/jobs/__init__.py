"""Asynchronous jobs with durable results (``/v1/jobs``; routes in :mod:`api.routers.jobs`).

==========================  ==============================================================
module                      job
==========================  ==============================================================
:mod:`api.jobs.store`       the SQL tables (SQLAlchemy Core): jobs, their compressed answers
:mod:`api.jobs.codec`       zstd compression of the stored answers (pyarrow's codec)
:mod:`api.jobs.progress`    the engines' ``callback=`` in a worker, throttled into the store
:mod:`api.jobs.run`         what the worker runs: the synchronous endpoint's task, recorded
:mod:`api.jobs.service`     the server side: submit, record outcomes, cancel, sweep
==========================  ==============================================================

A job's life: ``queued`` (row inserted, task submitted to the worker pool), ``running``
(written by the worker as it starts; progress rows while the fit runs), then
``succeeded`` (answers stored), ``failed`` (the problem document stored) or
``cancelled``. Finished jobs are deleted ``IMPUTER_JOBS_TTL_S`` seconds after they
finished. A server that dies leaves its active jobs behind; the sweep of any server on
the same database (the restarted one included) marks them ``failed`` once their
heartbeat is three periods old (``IMPUTER_JOBS_HEARTBEAT_S``). They are not re-queued:
request bodies are not stored.
"""
