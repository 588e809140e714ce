"""gunicorn's configuration for ratsflow: ``ratsflow serve --workers N`` uses it, and so does

    gunicorn -c python:web.gunicorn_conf

(after ``ratsflow db upgrade`` and ``ratsflow deploy``; the scheduler runs as its own
``ratsflow scheduler``). ``GUNICORN_CMD_ARGS`` and the command line override what is set here.

Choices, and why:

* ``gthread`` workers: each worker process serves ``RATSFLOW_WEB_THREADS`` requests at once
  and keeps client connections alive (gunicorn's ``sync`` worker closes every connection
  after one answer). A request spends much of its time waiting for PostgreSQL; a few threads
  fill that wait without a second interpreter per request.
* No ``preload_app``: every worker imports and builds the app after the fork, so it opens its
  own database pool (SQLAlchemy connections must not cross a fork), its own script sandbox
  pool (``engine.workflow.sandbox`` starts one per process) and its own limiter connection.
  Start-up costs each worker about a second; a restarted worker is the same as a new one.
* ``WEB_CONCURRENCY`` (gunicorn's own convention) sets the number of workers when gunicorn is
  started directly; ``ratsflow serve --workers N`` passes N.
"""

from __future__ import annotations

import os

from engine.settings import load_settings

_settings = load_settings()  # a setting that cannot work stops the start here, with its name
wsgi_app = "web:create_app()"
bind = os.environ.get("RATSFLOW_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = _settings.web_threads
preload_app = False
#: Idle keep-alive connections are closed after this many seconds (behind a proxy on the same
#: network, a few seconds suffice).
keepalive = 5
#: A request that takes longer than this (a stuck worker) gets its worker restarted.
timeout = 60
graceful_timeout = 30
#: A worker is replaced after about this many requests (jittered, so they do not all restart
#: at once): memory that a long-lived process gathers is given back.
max_requests = 20000
max_requests_jitter = 2000
accesslog = os.environ.get("RATSFLOW_ACCESS_LOG") or None
errorlog = "-"
loglevel = "info"
proc_name = "ratsflow-web"
#: gunicorn's control socket (``gunicornc``, gunicorn 24 and later) would be one path for
#: every server of the user; ratsflow needs none.
control_socket_disable = True

