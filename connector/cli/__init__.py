"""`python -m connector ...`: serve, run a worker, manage keys and the database schema,
check the catalog, export platform apps, receive deliveries. The top layer: the only code
(with `app.py`) that reads the environment and configures logging."""

from __future__ import annotations

import click

from .db import db
from .export import export
from .keys import keys
from .operate import prune, show_config
from .serve import serve, worker
from .tools import check, receive


@click.group()
def main() -> None:
    """hookkit: webhook subscriptions and signed, durable delivery."""


for _command in (serve, worker, keys, db, export, receive, check, show_config, prune):
    main.add_command(_command)
