"""Values an in-place update retired (a view ``z = y[:]`` before ``y += 1`` or ``y[0] = 5``):
every use raises InPlaceMutationError naming the use's line and the update's, whatever Python operator
or protocol the use goes through (found by a fuzzer: some raised a bare TypeError naming an internal
class), and returning one names the update, not the caller's line. And a nested gradient of an array
that was assigned into works as it does without the assignment (it raised a misleading InputError)."""
import copy
import operator
import pickle

import numpy as np
import pytest

import mixedad

FILE = __file__  # as messages name it, the full path


def _line_of(marker: str) -> str:
    """``.../test_retired_and_nested_errors.py:N``: the line of this file that ends with the comment ``marker``."""
    with open(FILE) as source:
        numbers = [n for n, line in enumerate(source, 1) if line.rstrip().endswith(marker) and f'"{marker}' not in line]
    assert len(numbers) == 1, marker
    return f"{FILE}:{numbers[0]}"


def _described(number: int) -> str:
    """How a message names line ``number`` of this file: ``.../test_...py:N: `its source```."""
    with open(FILE) as source:
        return f"{FILE}:{number}: `{source.readlines()[number - 1].strip()}`"


def _retired_by_an_operator(x, use):
    y = x * 2.0
    z = y[:]
    y += 1.0  # retires z by +=
    use(z)
    return np.sum(y)


def _retired_by_an_assignment(x, use):
    y = x * 2.0
    z = y[:]
    y[0] = 5.0  # retires z by assignment
    use(z)
    return np.sum(y)


USES = [  # each on its own line: the message must name it
    ("z // 3", lambda z: z // 3),
    ("3 // z", lambda z: 3 // z),
    ("z % 2", lambda z: z % 2),
    ("2 % z", lambda z: 2 % z),
    ("divmod(z, 2)", lambda z: divmod(z, 2)),
    ("divmod(2, z)", lambda z: divmod(2, z)),
    ("abs(z)", lambda z: abs(z)),
    ("+z", lambda z: +z),
    ("~z", lambda z: ~z),
    ("z & True", lambda z: z & True),
    ("True & z", lambda z: True & z),
    ("z | 1", lambda z: z | 1),
    ("1 | z", lambda z: 1 | z),
    ("z ^ 1", lambda z: z ^ 1),
    ("1 ^ z", lambda z: 1 ^ z),
    ("z << 1", lambda z: z << 1),
    ("1 << z", lambda z: 1 << z),
    ("z >> 1", lambda z: z >> 1),
    ("1 >> z", lambda z: 1 >> z),
    ("int(z)", lambda z: int(z)),
    ("complex(z)", lambda z: complex(z)),
    ("operator.index(z)", lambda z: operator.index(z)),
    ("round(z)", lambda z: round(z)),
    ("1.0 in z", lambda z: 1.0 in z),
    ("hash(z)", lambda z: hash(z)),
    ("del z[0]", lambda z: operator.delitem(z, 0)),
    ("copy.copy(z)", lambda z: copy.copy(z)),
    ("copy.deepcopy(z)", lambda z: copy.deepcopy(z)),
    ("pickle.dumps(z)", lambda z: pickle.dumps(z)),
    ("f'{z:.3f}'", lambda z: f"{z:.3f}"),
    ("z //= 2", lambda z: operator.ifloordiv(z, 2)),
    ("z %= 2", lambda z: operator.imod(z, 2)),
    ("z **= 2", lambda z: operator.ipow(z, 2)),
    ("z @= np.eye(3)", lambda z: operator.imatmul(z, np.eye(3))),
    ("z &= 1", lambda z: operator.iand(z, 1)),
    ("z |= 1", lambda z: operator.ior(z, 1)),
    ("z ^= 1", lambda z: operator.ixor(z, 1)),
    ("z <<= 1", lambda z: operator.ilshift(z, 1)),
    ("z >>= 1", lambda z: operator.irshift(z, 1)),
    ("z.shape = (3, 1)", lambda z: setattr(z, "shape", (3, 1))),
    ("z + 1 (covered before)", lambda z: z + 1),
]


@pytest.mark.parametrize("name, use", USES, ids=[name for name, _ in USES])
@pytest.mark.parametrize("retiring, marker", [(_retired_by_an_operator, "# retires z by +="),
                                              (_retired_by_an_assignment, "# retires z by assignment")])
def test_every_use_of_a_retired_value_names_the_use_and_the_update(name, use, retiring, marker):
    with pytest.raises(mixedad.InPlaceMutationError) as caught:
        mixedad.gradient(lambda x: retiring(x, use), np.ones(3))
    message = str(caught.value)
    assert f"replaced by an in-place operation at {_line_of(marker)}" in message
    # the use's line and source (for copy.copy, as the line that called into the copy module)
    assert _described(use.__code__.co_firstlineno) in message.split("used again at ")[1]
    assert "RetiredTraced" not in message


def _returns_an_updated_view(x):
    y = x * 2.0
    z = y[:]
    y += 1.0  # returned view replaced by +=
    return z


def _returns_a_view(x):
    y = x * 2.0
    z = y[:]
    y[0] = 5.0  # returned view replaced
    return z


@pytest.mark.parametrize("transform", ["vjp", "jacobian reverse", "gradient"])
@pytest.mark.parametrize("f, marker, update", [(_returns_an_updated_view, "# returned view replaced by +=", "y += 1.0"),
                                               (_returns_a_view, "# returned view replaced", "y[0] = 5.0")])
def test_returning_a_replaced_value_names_the_update_in_f_not_the_caller(transform, f, marker, update):
    x = np.ones(1) if transform == "gradient" else np.ones(3)  # (gradient: a size-1 output)
    with pytest.raises(mixedad.InPlaceMutationError) as caught:
        if transform == "vjp":
            mixedad.vjp(f, x)  # the caller's line: not the one to name
        elif transform == "jacobian reverse":
            mixedad.jacobian(f, x, mode="reverse")  # the caller's line: not the one to name
        else:
            mixedad.gradient(f, x)  # the caller's line: not the one to name
    message = str(caught.value)
    assert message.startswith("f returned a traced value that an in-place operation at ")
    assert f"{_line_of(marker)}: `{update}" in message
    assert message.count(FILE) == 1  # the update's line only, none of the calls above


def _assigned_into(b, nested):
    v = np.sin(b)
    v[0] = 2 * v[0]  # v is updated: an enclosing gradient's array assigned into
    return nested(v)


def _same_values(b, nested):
    return nested(np.sin(b) * np.array([2.0, 1.0, 1.0]))


NESTED = [
    ("gradient", lambda v: np.sum(mixedad.gradient(lambda z: np.sum(np.sin(z * v)), v))),
    ("gradient of a dict", lambda v: np.sum(mixedad.gradient(lambda p: np.sum(np.sin(p["a"] * v)), {"a": v})["a"])),
    ("jvp", lambda v: np.sum(mixedad.jvp(lambda z: np.sin(z * z), (v,), (np.ones(3),))[1])),
    ("forward jacobian", lambda v: np.sum(mixedad.jacobian(lambda z: np.sin(z) * v, v, mode="forward"))),
]


@pytest.mark.parametrize("nested", [f for _, f in NESTED], ids=[name for name, _ in NESTED])
def test_a_nested_derivative_of_an_array_assigned_into_is_as_without_the_assignment(nested):
    b = np.array([0.3, 0.5, 0.7])
    expected = mixedad.gradient(lambda b: _same_values(b, nested), b.copy())
    np.testing.assert_allclose(mixedad.gradient(lambda b: _assigned_into(b, nested), b.copy()), expected,
                               rtol=1e-12)


def test_a_nested_vjp_of_an_array_assigned_into_is_still_refused_as_without_the_assignment():
    nested = lambda v: np.sum(mixedad.vjp(lambda z: z * v, v)[0])  # noqa: E731
    for outer in (_assigned_into, _same_values):
        with pytest.raises(mixedad.InputError, match="already a traced value: a reverse-mode vjp"):
            mixedad.gradient(lambda b: outer(b, nested), np.array([0.3, 0.5, 0.7]))


@pytest.mark.parametrize("transform", ["jvp", "jacobian forward"])
def test_returning_a_stale_forward_view_names_the_update_in_f_not_the_caller(transform):
    """Forward mode updates a dual in place, so an alias follows the update (as NumPy's does); a view
    taken before an assignment cannot, and returning one names the assignment."""
    x = np.ones(3)
    with pytest.raises(mixedad.InPlaceMutationError) as caught:
        if transform == "jvp":
            mixedad.jvp(_returns_a_view, (x,), (x,))  # the caller's line: not the one to name
        else:
            mixedad.jacobian(_returns_a_view, x, mode="forward")  # the caller's line: not the one to name
    message = str(caught.value)
    assert message.startswith("f returned a traced value that an in-place operation at ")
    assert f"{_line_of('# returned view replaced')}: `y[0] = 5.0" in message
    assert message.count(FILE) == 1
