"""The publishing client: what a product does to publish over HTTP. `threads` threads, each
with its own keep-alive `requests.Session` (proxy variables ignored), send the given bodies
once each, flat out or at a pace. The same client drives hookkit's publish API and the bare
Flask baseline, so the two rates differ only by the server.

It records when each request was sent (`time.time()`, for publish-to-receipt times), the
status codes, and, when asked, the parsed answers. Loopback only; bounded by `deadline`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import requests
from common import progress, session


def drive(
    url: str,
    bodies: Sequence[bytes],
    *,
    headers: dict[str, str],
    threads: int = 4,
    deadline: float,
    pace: float | None = None,
    keep_answers: bool = False,
    warm_url: str | None = None,
) -> dict[str, Any]:
    """POST every body of `bodies` to `url` once; `pace` (requests/s) spaces the sends.

    Returns `{"n", "seconds", "rate", "first", "statuses", "errors", "sent", "answers",
    "behind"}`: `first` is the time.time() of the first send, `sent[i]` when body i was
    sent, `answers[i]` its parsed JSON answer (with `keep_answers`), `behind` the most a
    paced send started late.
    """
    n = len(bodies)
    counter = itertools.count()
    sent: list[float] = [0.0] * n
    answers: list[Any] = [None] * n
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1, timeout=60)
    clock: dict[str, float] = {"start": 0.0, "stop_at": float("inf"), "behind": 0.0}
    finished = [0]
    all_headers = {"Content-Type": "application/json", **headers}

    def work() -> None:
        with session() as http:
            if warm_url:
                http.get(warm_url, headers=headers, timeout=10)
            barrier.wait()
            while time.monotonic() < clock["stop_at"]:
                i = next(counter)
                if i >= n:
                    return
                if pace:
                    late = time.monotonic() - (clock["start"] + i / pace)
                    if late < 0:
                        time.sleep(-late)
                    elif late > clock["behind"]:
                        clock["behind"] = late
                sent[i] = time.time()
                try:
                    response = http.post(url, data=bodies[i], headers=all_headers, timeout=30)
                    code = response.status_code
                    if keep_answers:
                        answers[i] = response.json()
                    else:
                        response.content  # noqa: B018  # read the whole answer, as a client does
                except (requests.RequestException, ValueError) as exc:
                    with lock:
                        errors.append(repr(exc))
                    continue
                with lock:
                    statuses[code] += 1
                    finished[0] += 1

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    # Set before the threads are released: a paced send is due at start + i / pace.
    clock["start"] = time.monotonic()
    clock["stop_at"] = clock["start"] + deadline
    barrier.wait()
    started = time.perf_counter()
    while any(t.is_alive() for t in pool):
        progress.update(finished[0], n)
        for t in pool:
            t.join(0.2)
        if time.monotonic() > clock["stop_at"] + 30:
            break
    elapsed = time.perf_counter() - started
    done = finished[0]
    stamped = [at for at in sent if at]
    return {
        "n": done,
        "seconds": elapsed,
        "rate": done / elapsed if elapsed > 0 else 0.0,
        "first": min(stamped) if stamped else time.time(),
        "statuses": dict(statuses),
        "errors": len(errors),
        "error_sample": errors[:3],
        "sent": sent,
        "answers": answers,
        "behind": clock["behind"],
    }
