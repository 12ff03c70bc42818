"""The profiler counts each NumPy call of the user's code once, in one entry, on its own line,
when a dual region's nodes lie in several tape entries: a region read again after a fused
reduction consumed it (softmax's ``e / np.sum(e)``), regions that overlap (log-softmax,
layer norm), a value read by several later ops. The engine names each entry by every node
of its region, so such ops were counted once per entry and their lines reported by each.

The expected ops come from the test functions' own source: every ``np.<name>(...)`` call and
arithmetic operator is one op, named as NumPy names it."""
import ast
import collections
import inspect
import textwrap

import numpy as np
import pytest

import mixedad
from mixedad.core.modes import Reason
from mixedad.profiler import Report
from mixedad.profiler.lines import build_line_report

OPERATORS = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide", ast.MatMult: "matmul"}
W = np.linspace(-1.0, 1.0, 14).reshape(7, 2)
EPS = 1e-5
SCALE = np.linspace(0.5, 2.0, 7)  # (a uniform scale would make the gradient of layer norm zero)
X = np.linspace(-1.0, 1.5, 7)


def source_ops(f) -> list[tuple[int, str]]:
    """(line, op name) of every NumPy call and arithmetic operator in ``f``'s body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
    first = f.__code__.co_firstlineno
    ops = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "np":
            ops.append((first + node.lineno - 1, node.func.attr))
        elif isinstance(node, ast.BinOp):
            ops.append((first + node.lineno - 1, OPERATORS[type(node.op)]))
    return ops


# --- one op per line: each line names the op it should be attributed to --------------------

def softmax_steps(x):
    e = np.exp(x)
    s = np.sum(e)  # a fused reduction over exp's region, which division reads again
    r = np.divide(e, s)
    lg = np.log(r)
    return np.sum(lg)


def log_softmax_steps(x):
    m = np.max(x)
    z = np.subtract(x, m)  # under both reductions: never materialized
    e = np.exp(z)
    s = np.sum(e)
    lg = np.log(s)
    out = np.subtract(z, lg)
    return np.sum(out)


def layer_norm_steps(x):
    mu = np.mean(x)
    d = np.subtract(x, mu)  # in the variance's reduction and in the normalized output's
    sq = np.square(d)
    var = np.mean(sq)
    shifted = np.add(var, EPS)
    std = np.sqrt(shifted)
    y = np.divide(d, std)
    scaled = np.multiply(y, SCALE)
    return np.sum(scaled)


def several_readers(x):
    e = np.exp(x)
    s = np.sum(e)
    a = np.divide(e, s)
    b = np.multiply(e, s)
    c = np.sin(e)
    t = np.sum(a)
    u = np.sum(b)
    v = np.sum(c)
    w = np.add(t, u)
    return np.add(w, v)


def two_values_share_a_node(x):
    a = np.exp(x)
    b = np.sin(a)  # b's region contains a's node, which a's own region computes too
    p = np.matmul(a, W)
    q = np.matmul(b, W)
    sp = np.sum(p)
    sq = np.sum(q)
    return np.add(sp, sq)


def the_same_op_written_twice(x):
    s = np.sum(np.sin(x))
    return np.tanh(s) + np.sum(np.sin(x) * s)  # a second sin: a second op, though equal to the first


# --- as people write them ------------------------------------------------------------------

def softmax(x):
    e = np.exp(x)
    return np.sum(np.log(e / np.sum(e)))


def log_softmax(x):
    z = x - np.max(x)
    return np.sum(z - np.log(np.sum(np.exp(z))))


def layer_norm(x):
    d = x - np.mean(x)
    return np.sum(d / np.sqrt(np.mean(np.square(d)) + EPS) * SCALE)


ONE_OP_PER_LINE = [softmax_steps, log_softmax_steps, layer_norm_steps, several_readers, two_values_share_a_node]
AS_WRITTEN = [softmax, log_softmax, layer_norm, the_same_op_written_twice]


def reported_ops(report: Report) -> collections.Counter:
    return collections.Counter(op for e in report.body for op in e.ops)


def assert_each_line_in_one_entry(f, report: Report) -> None:
    """With one op per line, each op's line is in the locations of exactly one entry, and an
    entry's lines are those of its ops."""
    op_at = dict(source_ops(f))
    assert len(op_at) == len(source_ops(f))  # (the test function really has one op per line)
    claimed = collections.Counter()
    for e in report.body:
        lines = [loc.lineno for loc in e.locations]
        assert collections.Counter(op_at[line] for line in lines) == collections.Counter(e.ops), e
        claimed.update(lines)
    assert claimed == collections.Counter(op_at.keys())


@pytest.mark.parametrize("mode", ["auto", "forward"])
@pytest.mark.parametrize("f", ONE_OP_PER_LINE + AS_WRITTEN, ids=lambda f: f.__name__)
def test_each_numpy_call_is_counted_once(f, mode):
    report = mixedad.profile(f, X, mode=mode, lines=False)
    expected = collections.Counter(op for _, op in source_ops(f))
    assert reported_ops(report) == expected
    # the summary's count, which the header prints: ops in dual regions plus one per other entry
    not_dual = sum(1 for e in report.body if e.mode.value != "dual")
    assert report.summary.n_fused_ops + not_dual == sum(expected.values())
    np.testing.assert_allclose(report.gradient, mixedad.gradient(f, X, mode="reverse"), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("f", ONE_OP_PER_LINE, ids=lambda f: f.__name__)
def test_each_op_is_attributed_to_one_entry_and_its_own_line(f):
    report = mixedad.profile(f, X, lines=False)
    assert_each_line_in_one_entry(f, report)
    code = f.__code__
    lines = build_line_report({(code.co_filename, code.co_firstlineno, f.__name__): {}}, report.entries)
    (function,) = lines.functions
    op_lines = {line for line, _ in source_ops(f)}
    for stat in function.lines:
        assert len(stat.entries) == (1 if stat.lineno in op_lines else 0), stat


def test_a_fused_sum_over_a_region_read_again_is_the_sum_alone():
    report = mixedad.profile(softmax_steps, X, lines=False)
    sum_line = min(line for line, op in source_ops(softmax_steps) if op == "sum")  # np.sum(e)
    (fused,) = [e for e in report.body if e.line.lineno == sum_line]
    assert fused.ops == ("sum",) and fused.reason is Reason.REDUCTION_FUSED
    assert [loc.lineno for loc in fused.locations] == [sum_line]
    # it reads the partials of exp's materialized region, which that entry holds: its backward
    # step materialises none of its own
    assert fused.backward_bytes == 0


def test_a_loop_counts_each_iteration():
    n = 3

    def loop(x):
        y = np.exp(x)
        total = np.sum(y)
        for _ in range(n):
            y = np.sin(y)
        return total + np.sum(y)

    report = mixedad.profile(loop, X, lines=False)
    assert reported_ops(report) == collections.Counter({"exp": 1, "sum": 2, "sin": n, "add": 1})


def test_profiling_a_prepared_gradient_counts_each_call_once():
    expected = collections.Counter(op for _, op in source_ops(softmax))
    with mixedad.profiling() as prof:
        prepared = mixedad.prepare(softmax, X)
        for _ in range(3):
            prepared.gradient(X)
            prepared.value_and_gradient(X)
    assert len(prof.reports) >= 6
    for report in prof.reports:
        assert reported_ops(report) == expected
    merged = prof.report
    assert merged.summary.n_fused_ops == len(prof.reports) * sum(expected.values())
    assert collections.Counter({op: n * len(prof.reports) for op, n in expected.items()}) == \
        collections.Counter(op for e in merged.body for op in e.ops for _ in range(e.count))


def test_the_attributed_report_round_trips_through_json():
    report = mixedad.profile(several_readers, X, lines=False)
    loaded = Report.from_json(report.to_json())
    assert loaded.entries == report.entries and loaded.summary == report.summary
    assert_each_line_in_one_entry(several_readers, loaded)
