"""A finished differentiation leaves no cyclic garbage: its tape (with every array the reverse
rules saved) is freed by reference counting when the call returns, not whenever Python's
cyclic collector next runs, which counts objects, not bytes (a loop of gradients of a few
large arrays would otherwise keep many tapes alive).

Views are where cycles come from: a view refers to its base (an update writes through) and
the base to its views (an update retires them)."""
import gc
import weakref

import numpy as np
import pytest

import mixedad


def views_and_regions(x):
    y = np.reshape(x, (2, 3))
    row = y[0]
    z = row * 2.0 + np.sum(x[1:])
    return np.sum(np.tanh(y) * z[0]) + np.sum(np.transpose(y)[1])


def assignment_through_a_view(x):
    y = x * 1.0
    row = y[:3]
    row[0] = x[5] ** 2
    return np.sum(y * y)


X = np.linspace(-1.0, 1.0, 6)

CALLS = {
    "gradient": lambda f: mixedad.gradient(f, X),
    "gradient reverse": lambda f: mixedad.gradient(f, X, mode="reverse"),
    "value_and_gradient": lambda f: mixedad.value_and_gradient(f, X),
    "vjp": lambda f: mixedad.vjp(f, X)[1](1.0),
    "jvp": lambda f: mixedad.jvp(f, (X,), (np.ones_like(X),)),
    "hvp": lambda f: mixedad.hvp(f, X, np.ones_like(X)),
    "jacobian": lambda f: mixedad.jacobian(lambda x: np.reshape(x, (2, 3))[0] * f(x), X),
    "prepared gradient": None,  # built per function below
}


def cyclic_garbage(call) -> int:
    call()  # rules load on first use: keep that out of the count
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        call()
        return gc.collect()
    finally:
        if collecting:
            gc.enable()


@pytest.mark.parametrize("f", [views_and_regions, assignment_through_a_view])
@pytest.mark.parametrize("name", list(CALLS))
def test_a_finished_differentiation_leaves_no_cycles(name, f):
    if name == "prepared gradient":
        prepared = mixedad.prepare(f, X)
        call = lambda: prepared.gradient(X)  # noqa: E731
    else:
        call = lambda: CALLS[name](f)  # noqa: E731
    assert cyclic_garbage(call) == 0


made = []  # weak references to the values the primitive below returned


@mixedad.primitive
def doubled(x):
    out = x * 2.0
    made.append(weakref.ref(out))
    return out


doubled.defvjp(lambda g, out, x: 2.0 * g)


def test_the_saved_values_are_freed_when_gradient_returns():
    def f(x):
        y = doubled(np.reshape(x, (2, 3)))  # the tape saves y's value for doubled's rule
        return np.sum(np.sin(y)[0] * y[1])

    made.clear()
    collecting = gc.isenabled()
    gc.disable()
    try:
        grad = mixedad.gradient(f, X)
        assert made and made[0]() is None, "a value the tape saved outlived the gradient call"
    finally:
        if collecting:
            gc.enable()
    y = 2.0 * X.reshape(2, 3)
    expected = 2.0 * np.concatenate([np.cos(y[0]) * y[1], np.sin(y[0])])
    np.testing.assert_allclose(grad, expected, rtol=1e-12)


# ops whose reverse rules read their argument's shape only. (Those that make views, reshape
# or transpose, keep no array for their rules either, but a view keeps its base alive until
# the trace ends: an in-place update of the base must reach its views.)
SHAPE_READERS = {
    "sum": np.sum,
    "mean": np.mean,
    "sum over an axis": lambda y: np.sum(np.sum(y, axis=0)),
    "mean over an axis": lambda y: np.sum(np.mean(y, axis=1, keepdims=True) ** 2),
    "roll": lambda y: np.sum(np.roll(y, 1)[0]),
    "flatten": lambda y: np.sum(y.flatten()[1:] ** 2),
}


@pytest.mark.parametrize("mode", ["auto", "reverse"])
@pytest.mark.parametrize("name", list(SHAPE_READERS))
def test_an_op_that_reads_shapes_keeps_no_array_alive(name, mode):
    """``np.sum(doubled(x))``: nothing reads doubled's output in the backward pass, so it is
    freed as soon as the forward pass drops it (a loss summing many large terms would otherwise
    hold every one of them until the backward pass)."""
    op, freed_in_forward_pass = SHAPE_READERS[name], []

    def f(x):
        total = op(doubled(np.reshape(x, (2, 3))))
        freed_in_forward_pass.append(made[-1]() is None)
        return total

    made.clear()
    collecting = gc.isenabled()
    gc.disable()
    try:
        grad = mixedad.gradient(f, X, mode=mode)
    finally:
        if collecting:
            gc.enable()
    assert freed_in_forward_pass == [True]
    plain = f(X)  # the same function on plain arrays: its derivative, by central differences
    step = 1e-6
    expected = [(f(X + step * e) - f(X - step * e)) / (2 * step) for e in np.eye(X.size)]
    np.testing.assert_allclose(grad, expected, rtol=1e-7, atol=1e-9)
    assert np.isfinite(plain)


@pytest.mark.parametrize("f", [views_and_regions, assignment_through_a_view])
@pytest.mark.parametrize("calls", [1, 3])  # recorded only; recorded and compiled (second run on)
def test_a_prepared_gradient_leaves_no_cycles_when_it_goes(f, calls):
    def prepare_use_and_drop():
        prepared = mixedad.prepare(f, X)
        for _ in range(calls):
            prepared.gradient(X)
        assert prepared.replays

    assert cyclic_garbage(prepare_use_and_drop) == 0


@pytest.mark.parametrize("mode", ["auto", "reverse"])
def test_the_tape_is_freed_before_the_collector_resumes(monkeypatch, mode):
    """Python's collector is paused while a tape grows; when it resumes, the allocations made
    meanwhile trigger a collection at once, which would walk every object still alive (40 ms
    of a 160 ms gradient of a 200-step Python loop). The tape must be gone by then."""
    from mixedad import api
    from mixedad.core.tape import TapeEntry, UnaryEntry

    def entries_alive():  # (type(), not isinstance: some modules' objects warn when asked their __class__)
        return sum(type(o) in (TapeEntry, UnaryEntry) for o in gc.get_objects())

    alive_at_resume = []
    resume = api.resume_collector

    def counting_resume():
        alive_at_resume.append(entries_alive())
        resume()

    def loop(x):
        y = x
        for _ in range(200):
            y = np.sin(y) * 0.5 + 0.4 * np.reshape(y, (6,))[::-1]
        return np.sum(y)

    before = entries_alive()
    monkeypatch.setattr(api, "resume_collector", counting_resume)
    grad = mixedad.gradient(loop, X, mode=mode)
    assert alive_at_resume and alive_at_resume[-1] - before < 20, alive_at_resume
    step = 1e-6
    differences = [(loop(X + step * e) - loop(X - step * e)) / (2 * step) for e in np.eye(len(X))]
    np.testing.assert_allclose(grad, differences, rtol=1e-5, atol=1e-9)
