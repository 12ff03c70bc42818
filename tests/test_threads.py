"""mixedad used from several threads at once, as a thread pool in a service uses it."""
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import mixedad
from mixedad.core.collector import pause_collector, resume_collector

from numerical import numerical_gradient


@pytest.mark.parametrize("enabled", [True, False])
def test_overlapping_pauses_resume_the_collector_once_the_last_ends(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        pause_collector()  # thread A starts tracing
        pause_collector()  # thread B starts while A traces
        resume_collector()  # A ends: B still traces
        assert not gc.isenabled()
        resume_collector()  # B ends
        assert gc.isenabled() is enabled  # on again only if it was on
    finally:
        (gc.enable if was else gc.disable)()


class _Cycle:
    def __init__(self):
        self.me = self  # garbage only the cyclic collector frees


@pytest.mark.parametrize("enabled", [True, False])
def test_a_pause_that_ends_while_others_remain_collects_what_is_due(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        pause_collector()  # thread A traces
        pause_collector()  # thread B traces: the two pauses overlap
        for _ in range(5 * gc.get_threshold()[0]):
            _Cycle()
        resume_collector()  # A ends, B still traces
        alive = sum(type(item) is _Cycle for item in gc.get_objects())
        resume_collector()
        assert not gc.isenabled() or enabled
        # the collector would have run by now if it were on: the ended pause runs it (and only then)
        assert (alive == 0) if enabled else (alive == 5 * gc.get_threshold()[0])
    finally:
        (gc.enable if was else gc.disable)()
        gc.collect()


def test_threads_that_differentiate_back_to_back_let_cycles_be_collected():
    # their pauses overlap all the time: garbage that other code makes must still be collected
    assert gc.isenabled()
    stop = threading.Event()
    w = np.random.default_rng(0).standard_normal((20, 20))

    def differentiate():
        while not stop.is_set():
            mixedad.gradient(lambda w: np.sum(np.tanh(w @ w) ** 2), w)
    workers = [threading.Thread(target=differentiate) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        made = 0
        while made < 60_000:
            for _ in range(300):
                _Cycle()
            made += 300
            time.sleep(0.001)  # (lets the workers run: their calls begin and end meanwhile)
        alive = sum(type(item) is _Cycle for item in gc.get_objects())
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        gc.collect()
    assert alive < made // 2  # (with every pause overlapping another: all of them)


def test_concurrent_gradients_leave_the_collector_on():
    assert gc.isenabled()
    x = np.linspace(0.1, 1.0, 3)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: mixedad.gradient(lambda x: np.sum(np.sin(x) * k), x), range(2000)))
    assert gc.isenabled()


def test_a_shared_prepared_gradient_serves_threads_one_call_at_a_time():
    rng = np.random.default_rng(0)
    w0, data = rng.standard_normal(5), rng.standard_normal((30, 5))

    def loss(w, data):
        return np.sum(np.tanh(data @ w) ** 2) + 0.5 * np.sum(w ** 2)

    prepared = mixedad.prepare(loss, w0, data)
    ws = [rng.standard_normal(5) for _ in range(400)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda w: prepared.value_and_gradient(w, data), ws))
    for w, (value, grad) in zip(ws, results):
        assert value == pytest.approx(loss(w, data), rel=1e-12)
        np.testing.assert_allclose(grad, mixedad.gradient(loss, w, data), rtol=1e-12)
    np.testing.assert_allclose(results[0][1], numerical_gradient(lambda w: loss(w, data), ws[0]), rtol=1e-6)


def test_a_prepared_gradient_called_during_its_own_call_is_refused():
    holder = {}

    @mixedad.primitive
    def square(x):
        return x ** 2

    def vjp(g, out, x):  # a rule that calls the prepared gradient it runs in, once replaying
        if "prepared" in holder:
            holder["prepared"].gradient(np.ones(2))
        return 2 * g * x
    square.defvjp(vjp)

    prepared = mixedad.prepare(lambda x: np.sum(square(x)), np.ones(2))
    holder["prepared"] = prepared
    with pytest.raises(mixedad.InputError, match="during its own call"):
        prepared.gradient(np.ones(2))
    del holder["prepared"]
    np.testing.assert_allclose(prepared.gradient(np.arange(2.0)), [0.0, 2.0])  # usable again


def test_threads_deriving_the_same_primitives_reverse_rule_do_not_see_each_other():
    # a primitive with only a forward rule: its reverse rule is derived by transposing it, per call
    inside, release = threading.Event(), threading.Event()

    @mixedad.primitive
    def doubled_cumsum(x):
        return np.cumsum(x) * 2.0

    def jvp_rule(t, out, x):
        if threading.current_thread().name == "first":  # hold the first thread inside its derivation
            inside.set()
            release.wait(10)
        return np.cumsum(t) * 2.0
    doubled_cumsum.defjvp(jvp_rule)

    x = np.arange(4.0)
    f = lambda x: np.sum(doubled_cumsum(x) ** 2)
    results = {}

    def run():
        try:
            results[threading.current_thread().name] = mixedad.gradient(f, x.copy())
        except Exception as error:  # noqa: BLE001 (reported by the assertions below)
            results[threading.current_thread().name] = error
    first = threading.Thread(target=run, name="first")
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=run, name="second")
    second.start()
    second.join()
    release.set()
    first.join()
    expected = numerical_gradient(lambda x: np.sum((np.cumsum(x) * 2.0) ** 2), x)
    for name in ("first", "second"):
        assert isinstance(results[name], np.ndarray), results[name]
        np.testing.assert_allclose(results[name], expected, rtol=1e-7)


def test_an_array_two_threads_trace_stays_guarded_until_both_end():
    weights = np.arange(6.0).reshape(2, 3) / 10
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()
    outcome = {}

    def loss_a(x):
        y = np.sum(np.tanh(weights @ x))
        a_inside.set()
        b_inside.wait(10)
        return y

    def loss_b(x):
        y = np.sum(np.tanh(weights @ x))
        b_inside.set()
        a_done.wait(10)  # the other trace, which guarded weights first, has ended
        try:
            weights[0, 0] = 100.0  # the tape reads weights in the backward pass: refused
        except ValueError as error:  # NumPy's; uncaught, mixedad names the write (InPlaceMutationError)
            outcome["error"] = error
        return y

    def run_a():
        mixedad.gradient(loss_a, np.ones(3))
        a_done.set()

    def run_b():
        outcome["gradient"] = mixedad.gradient(loss_b, np.ones(3))
    first = threading.Thread(target=run_a)
    first.start()
    assert a_inside.wait(10)
    second = threading.Thread(target=run_b)
    second.start()
    first.join()
    second.join()
    assert "error" in outcome and "read-only" in str(outcome["error"])
    expected = numerical_gradient(lambda x: np.sum(np.tanh(np.arange(6.0).reshape(2, 3) / 10 @ x)), np.ones(3))
    np.testing.assert_allclose(outcome["gradient"], expected, rtol=1e-7)
    assert weights.flags.writeable and weights[0, 0] == 0.0
