"""prefetch: a stage of the stream runs ahead on a thread; order, errors, early stops and the memory bound hold. Sink: the other direction."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from airlock.errors import AirlockError, SourceError
from airlock.pipeline import Sink, prefetch

# A guard against a hang, never a measured duration: every wait below ends as soon as its event is set.
HANG = 30


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "airlock-prefetch"]


class Producer:
    """An iterable that records what it produced, on which thread, and whether it was closed."""

    def __init__(self, count: int | None = None, fail_at: int | None = None, error: BaseException | None = None):
        self.count, self.fail_at, self.error = count, fail_at, error
        self.started = 0  # items whose production has begun
        self.threads: set[int] = set()
        self.closed = threading.Event()
        self.producing: dict[int, threading.Event] = {}

    def event(self, n: int) -> threading.Event:
        return self.producing.setdefault(n, threading.Event())

    def __iter__(self) -> Iterator[int]:
        n = 0
        try:
            while self.count is None or n < self.count:
                self.started = n + 1
                self.threads.add(threading.get_ident())
                self.event(n).set()
                if n == self.fail_at:
                    raise self.error or RuntimeError("boom")
                yield n
                n += 1
        finally:
            self.closed.set()


def test_items_arrive_in_order_produced_on_another_thread() -> None:
    producer = Producer(count=200)
    assert list(prefetch(producer, depth=3)) == list(range(200))
    assert producer.threads and threading.get_ident() not in producer.threads
    assert not prefetch_threads()


def test_the_producer_works_on_the_next_item_while_the_consumer_holds_one() -> None:
    producer = Producer(count=3)
    stream = prefetch(producer)
    assert next(stream) == 0
    # The consumer holds item 0 and asks for nothing: item 1 is produced meanwhile.
    assert producer.event(1).wait(HANG)
    assert list(stream) == [1, 2]


@pytest.mark.parametrize("error", [SourceError("source entity patient: table PATIENT is gone; check the profile"), ValueError("bad value")])
def test_an_error_in_the_producer_is_raised_in_the_consumer_with_its_type_and_message(error: Exception) -> None:
    producer = Producer(count=10, fail_at=4, error=error)
    received = []
    with pytest.raises(type(error)) as raised:
        for item in prefetch(producer):
            received.append(item)
    assert raised.value is error and str(raised.value) == str(error)
    assert received == [0, 1, 2, 3]
    if isinstance(error, AirlockError):
        assert "\n" not in str(raised.value)
    assert not prefetch_threads()


def test_at_most_depth_plus_one_items_are_alive() -> None:
    for depth in (1, 2, 4):
        producer = Producer(count=50)
        received = 0
        for _ in prefetch(producer, depth=depth):
            received += 1
            # Items made but not yet handled: the one in hand, up to depth waiting (one maybe in production).
            assert producer.started - received <= depth
        assert received == 50


def test_breaking_out_stops_and_joins_the_producer_and_closes_its_iterable() -> None:
    producer = Producer()  # endless
    for item in prefetch(producer):
        if item == 3:
            break
    assert producer.closed.wait(HANG)
    assert not prefetch_threads()
    assert producer.started <= 3 + 1 + 1


def test_a_consumer_that_raises_stops_the_producer() -> None:
    producer = Producer()

    def consume() -> None:
        for item in prefetch(producer):
            if item == 2:
                raise AirlockError("target lab_patient: cannot write; check the database")

    with pytest.raises(AirlockError):
        consume()
    assert producer.closed.is_set()
    assert not prefetch_threads()


def test_a_closed_or_collected_stream_stops_the_producer() -> None:
    closed = Producer()
    stream = prefetch(closed)
    next(stream)
    stream.close()
    assert closed.closed.is_set() and not prefetch_threads()

    dropped = Producer()
    stream = prefetch(dropped)
    next(stream)
    del stream
    gc.collect()
    assert dropped.closed.wait(HANG)
    assert not prefetch_threads()


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth must be 1 or more"):
        next(prefetch([1], depth=0))


# -- Sink: the caller puts, a consumer reads on its thread ----------------------------------------------------


def test_a_sink_consumes_in_order_on_another_thread_and_close_waits_for_it() -> None:
    seen, threads = [], set()

    def consume(items: Iterator[int]) -> None:
        for n in items:
            threads.add(threading.get_ident())
            seen.append(n)

    sink = Sink(consume)
    for n in range(50):
        sink.put(n)
    sink.close()
    assert seen == list(range(50))
    assert threads and threading.get_ident() not in threads


def test_a_failed_consumer_s_error_is_raised_by_the_next_put_or_by_close_and_dropped_by_abort() -> None:
    error = SourceError("lab_result: duplicate key")

    def consume(items: Iterator[int]) -> None:
        for n in items:
            if n == 2:
                raise error

    sink = Sink(consume)
    with pytest.raises(SourceError) as raised:
        for n in range(1000):  # the consumer fails at 2; a put after that raises, not 998 more
            sink.put(n)
    assert raised.value is error and n < 1000 - 1
    with pytest.raises(SourceError):
        sink.close()
    failing = Sink(consume)
    for n in range(3):
        failing.put(n)
    failing.abort()  # a caller already failing ends the consumer and goes on with its own error


def test_a_sink_holds_at_most_depth_items_waiting() -> None:
    release, waiting = threading.Event(), []

    def consume(items: Iterator[int]) -> None:
        release.wait(HANG)
        waiting.extend(items)

    sink = Sink(consume, depth=2)
    sink.put(0)
    sink.put(1)
    blocked = threading.Thread(target=sink.put, args=(2,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive(), "a third item waits for room"
    release.set()
    blocked.join(HANG)
    sink.close()
    assert waiting == [0, 1, 2]
