"""Overlapping the stages of the data path: one stage runs ahead of the next, on its own thread.

The data path is a chain of generators (source → convert → seal; vault → open → transform → write), and each
stage alone keeps one core busy at most. :func:`prefetch` runs the stage that produces an iterable on a thread,
so that it works on item n+1 while its consumer handles item n. The heavy work in Airlock releases the GIL
(pyarrow and its zstd, polars, the ADBC driver; connectorx only when it returns a whole table, not while a
stream waits for its server), so the two stages use two cores. :class:`Sink` is the other direction: the
caller hands items one by one to a consumer that reads them as an iterable on its thread (a COPY that
streams while the next batch is made).

>>> from airlock.pipeline import prefetch
>>> [n * n for n in prefetch(range(5))]
[0, 1, 4, 9, 16]

What the consumer can rely on: items arrive in order; an exception raised by the iterable is raised again in
the consumer, the very same object (its type, its one-line message); at most ``depth`` items wait between the
two, so with the one the consumer holds, ``depth + 1`` are alive at once; and once the consumer stops — the
iteration ends, it breaks out or raises, or the generator is closed or collected — the producer stops after the
item it is producing, its iterable is closed (so a source's ``finally`` runs) and its thread is joined.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Sink", "prefetch"]

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)


class _Buffer:
    """The bounded hand-over between the producer thread and the consumer."""

    def __init__(self, depth: int):
        self._depth = depth
        self._entries: deque[tuple[int, Any]] = deque()
        self._changed = threading.Condition()
        self._stopped = False

    def room(self) -> bool:
        """Wait until an item may be produced; False once the consumer has stopped."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or len(self._entries) < self._depth)
            return not self._stopped

    def put(self, kind: int, value: Any) -> None:
        with self._changed:
            if not self._stopped:
                self._entries.append((kind, value))
                self._changed.notify_all()

    def take(self) -> tuple[int, Any]:
        with self._changed:
            self._changed.wait_for(lambda: self._entries)
            entry = self._entries.popleft()
            self._changed.notify_all()
            return entry

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._entries.clear()  # items the consumer will never take are released now
            self._changed.notify_all()


def _produce(items: Iterator[Any], buffer: _Buffer) -> None:
    try:
        # Room is reserved before the next item is made: that is what bounds the items alive to depth + 1.
        while buffer.room():
            try:
                item = next(items)
            except StopIteration:
                buffer.put(_END, None)
                return
            buffer.put(_ITEM, item)
    except BaseException as error:  # every error belongs to the consumer, which raises it again
        buffer.put(_ERROR, error)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as error:
                buffer.put(_ERROR, error)


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced on a daemon thread up to ``depth`` items ahead of the consumer (see the module)."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be 1 or more, not {depth}")
    buffer = _Buffer(depth)
    thread = threading.Thread(target=_produce, args=(iter(items), buffer), name="airlock-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.take()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        buffer.stop()
        # The cyclic garbage collector may close an abandoned generator on any thread, the producer's included.
        if thread is not threading.current_thread():
            thread.join()


class Sink(Generic[T]):
    """Items put here are read, in order, by ``consume(items)`` running on a daemon thread.

    :meth:`put` waits while ``depth`` items are waiting; once ``consume`` has failed, :meth:`put` raises its
    error (the very object), and so does :meth:`close`, which ends the items and waits for ``consume`` to
    return. :meth:`abort` ends the items too, waits, and drops any error: for a caller already failing.

    >>> seen = []
    >>> sink = Sink(lambda items: seen.extend(n * n for n in items))
    >>> for n in range(4):
    ...     sink.put(n)
    >>> sink.close(); seen
    [0, 1, 4, 9]
    """

    def __init__(self, consume: Callable[[Iterator[T]], object], depth: int = 1):
        if depth < 1:
            raise ValueError(f"sink depth must be 1 or more, not {depth}")
        self._buffer = _Buffer(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(consume,), name="airlock-sink", daemon=True)
        self._thread.start()

    def _items(self) -> Iterator[T]:
        while True:
            kind, value = self._buffer.take()
            if kind == _END:
                return
            yield value

    def _run(self, consume: Callable[[Iterator[T]], object]) -> None:
        try:
            consume(self._items())
        except BaseException as error:  # the caller's, raised again by put() or close()
            self._error = error
        finally:
            self._buffer.stop()  # a put() waiting for room wakes up

    def put(self, item: T) -> None:
        if not self._buffer.room():
            self._thread.join()
            raise self._error or RuntimeError("the sink's consumer returned before its items ended")
        self._buffer.put(_ITEM, item)

    def close(self) -> None:
        self._buffer.put(_END, None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._buffer.put(_END, None)
        self._thread.join()
