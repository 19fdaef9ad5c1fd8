"""Delivery: the queue's database side (`outbox` claims, `recording` writes results), one
attempt (`attempts`, over `sender`), the `worker` loop, test sends, the delivery log
(`history`), failure e-mails (`notify`) and their one-click links (`links`).

Above `hooks` (it reads stored hooks to build requests); nothing here imports Flask."""
