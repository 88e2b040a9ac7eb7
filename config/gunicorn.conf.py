"""gunicorn settings for the web process (docs/operator-guide.md):

    gunicorn -c config/gunicorn.conf.py config.wsgi:application

Request handling in Django is CPU-bound Python, so throughput and tail latency come from
processes (one GIL each), not threads: about four processes per core with two threads each
(threads only cover the short waits on PostgreSQL and Redis). Measured with
`bench/run_api.sh load` on 2 cores, 50 clients polling every 0.5 s (bench/RESULTS.md):
8 x 2 p95 32.6-40.5 ms, 6 x 4 p95 38.8-51.6 ms, 4 x 8 p95 68.3 ms. Every value can be
overridden with the usual GUNICORN_CMD_ARGS or the variables below.
"""

import multiprocessing
import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", 4 * multiprocessing.cpu_count()))
threads = int(os.environ.get("WEB_THREADS", 2))
worker_class = "gthread"
backlog = 2048
timeout = int(os.environ.get("WEB_TIMEOUT", 60))
graceful_timeout = 30
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", 5000))  # recycle against slow leaks
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
