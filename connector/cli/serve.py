"""`serve` (gunicorn with the worker in-process) and `worker` (a standalone delivery worker),
and `wsgi_app()`, the application `gunicorn app:app` and `serve` run."""

from __future__ import annotations

import atexit
import logging
import os
import signal
from typing import Any

import click
from flask import Flask

from ..config import Settings
from .common import (
    BadConfiguration,
    check_catalog,
    check_smtp,
    configure_logging,
    open_store,
    settings_from_env,
)


def wsgi_app(settings: Settings | None = None) -> Flask:
    """The service as an entry point runs it: settings from the environment unless given,
    logging configured, and the service closed (worker stopped) when the process exits."""
    from ..factory import create_app
    from ..service import Hookkit

    if settings is None:
        try:
            settings = settings_from_env()
        except BadConfiguration as exc:  # `gunicorn app:app`: the same lines as the CLI's
            exc.show()
            raise SystemExit(3) from None  # gunicorn's "worker failed to boot": it stops
    configure_logging(settings)
    app = create_app(settings)
    atexit.register(Hookkit.of(app).close)
    return app


@click.command()
@click.option("--workers", default=1, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=8, show_default=True, help="threads per worker process")
def serve(workers: int, threads: int) -> None:
    """Serve the API on HOOKKIT_HOST:HOOKKIT_PORT (gunicorn), with the delivery worker
    in-process unless HOOKKIT_EMBEDDED_WORKER=false."""
    from gunicorn.app.base import BaseApplication

    from .. import metrics
    from .logformat import GunicornLogger

    settings = settings_from_env()
    # Clear messages here beat "worker failed to boot"; the schema is upgraded once, here,
    # before any gunicorn process starts.
    check_catalog(settings)
    open_store(settings).dispose()
    check_smtp(settings)
    configure_logging(settings)  # before forking: the processes inherit the metrics mode

    def child_exit(_server: Any, child: Any) -> None:
        metrics.process_exited(child.pid)  # its live gauges go; its counts stay

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", str(workers))
            self.cfg.set("threads", str(threads))
            self.cfg.set("worker_class", "gthread")
            # hookkit logs one line per request itself (`hookkit.request`, masked, in
            # HOOKKIT_LOG_FORMAT); gunicorn's own lines go through the masking logger.
            self.cfg.set("logger_class", GunicornLogger)
            self.cfg.set("child_exit", child_exit)
            if "control_socket_disable" in self.cfg.settings:
                # One shared control socket path would clash between several services.
                self.cfg.set("control_socket_disable", "true")
            # SIGTERM: sends in flight get HOOKKIT_SHUTDOWN_GRACE, then results are recorded
            # and unsent claims released; requests in progress finish meanwhile.
            self.cfg.set("graceful_timeout", str(int(settings.shutdown_grace) + 10))

        def load(self) -> Any:
            return wsgi_app(settings)

    logging.getLogger("hookkit").warning(  # shown at every log level, in the log's format
        "hookkit listening on http://%s:%d", settings.host, settings.port
    )
    _App().run()


@click.command()
def worker() -> None:
    """Run a standalone delivery worker (scale-out: any number, sharing one database).

    SIGTERM or Ctrl-C stops it cleanly: sends in flight finish, unsent claims are handed
    back for other workers at once. A second signal exits at once; a killed worker's claims
    are sent again when their lease (HOOKKIT_LEASE) runs out."""
    from .. import metrics
    from ..service import Hookkit

    settings = settings_from_env()
    check_catalog(settings)
    open_store(settings).dispose()  # a database behind head: a clear message, not a traceback
    check_smtp(settings)
    configure_logging(settings)
    service = Hookkit(settings, start_worker=False)
    runner = service.worker = service.new_worker()
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        # First signal: finish what is in flight, release the rest, exit. Second: exit now;
        # the claims come back when their leases run out.
        nonlocal stopping
        if stopping:
            os._exit(128 + signum)
        stopping = True
        runner.stop(timeout=0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runner.run()
    finally:
        service.store.dispose()
        metrics.process_exited()
