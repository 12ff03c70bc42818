"""What the checkers and a prepared gradient report about a wrong rule or a traced call: the
argument whose rule is wrong and no other, a rule whose parameters do not match the call
mixedad makes as that (not as a missing rule), and why_traced uncut where it matters."""
import re

import numpy as np
import pytest

import mixedad
from mixedad.checking import check_grads
from mixedad.core.errors import MissingRuleError, RuleSignatureError

X = np.array([0.3, 1.2, -0.7])
Y = np.array([0.5, 2.5, 1.1])
Z = np.array([-1.3, 0.4, 0.9])


def named_arguments(message: str) -> set[int]:
    """The argument positions a report names ("argument 1", "arguments [0, 2]")."""
    single = {int(n) for n in re.findall(r"\bargument (\d+)\b", message)}
    listed = {int(n) for group in re.findall(r"\barguments \[([\d, ]+)\]", message) for n in group.split(",")}
    return single | listed


def product_of_three(wrong: tuple[int, ...], kind: str):
    """x * y * z with correct rules, except a factor 2 in the rules of the arguments ``wrong``."""
    prim = mixedad.primitive(lambda x, y, z: x * y * z)
    prim.name = "product_of_three"

    def factor(j):
        return 2.0 if j in wrong else 1.0
    if kind == "vjp":
        prim.defvjp(lambda g, out, x, y, z: factor(0) * g * y * z, lambda g, out, x, y, z: factor(1) * g * x * z,
                    lambda g, out, x, y, z: factor(2) * g * x * y)
        return prim
    prim.defvjp(lambda g, out, x, y, z: g * y * z, lambda g, out, x, y, z: g * x * z,
                lambda g, out, x, y, z: g * x * y)
    if kind == "jvp":
        prim.defjvp(lambda t, out, x, y, z: factor(0) * t * y * z, lambda t, out, x, y, z: factor(1) * t * x * z,
                    lambda t, out, x, y, z: factor(2) * t * x * y)
    else:  # one forward rule for all three: tangents arrive as a tuple
        prim.defjvp(lambda ts, out, x, y, z: (factor(0) * ts[0] * y * z + factor(1) * ts[1] * x * z
                                              + factor(2) * ts[2] * x * y))
    return prim


# --- 1. a forward rule wrong for one argument names that argument -----------------------------------
def test_a_forward_rule_wrong_for_the_second_of_two_arguments_names_only_it():
    prim = mixedad.primitive(lambda x, y: x * y)
    prim.name = "product"
    prim.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
    prim.defjvp(lambda t, out, x, y: t * y, lambda t, out, x, y: 2.0 * t * x)   # wrong for y only
    with pytest.raises(AssertionError, match=r"forward rule \(defjvp\) disagrees") as caught:
        check_grads(prim, X, Y)
    assert named_arguments(str(caught.value)) == {1}, str(caught.value)
    check_grads(prim, X, Y, modes=("rev",))   # the reverse rules are right


@pytest.mark.parametrize("kind", ["jvp", "joint jvp"])
@pytest.mark.parametrize("wrong", [(0,), (1,), (2,), (0, 2)])
def test_a_forward_rule_of_three_arguments_names_exactly_the_wrong_ones(kind, wrong):
    with pytest.raises(AssertionError, match=r"forward rule \(defjvp\)") as caught:
        check_grads(product_of_three(wrong, kind), X, Y, Z)
    assert named_arguments(str(caught.value)) == set(wrong), str(caught.value)


def test_forward_mode_through_a_function_names_the_argument_of_the_wrong_rule():
    prim = product_of_three((1,), "jvp")
    with pytest.raises(AssertionError, match=r"forward mode \(mixedad.jvp") as caught:
        check_grads(lambda x, y, z: np.sin(prim(x, y, z)), X, Y, Z)   # a function: its jvp goes through the rule
    assert named_arguments(str(caught.value)) == {1}, str(caught.value)


def test_a_forward_rule_that_mixes_tangents_is_reported_for_all_its_arguments():
    prim = mixedad.primitive(lambda x, y: x * y)
    prim.name = "product"
    prim.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
    prim.defjvp(lambda ts, out, x, y: ts[0] * y + ts[1] * x + ts[0] * ts[1])  # right for each tangent alone
    with pytest.raises(AssertionError) as caught:
        check_grads(prim, X, Y)
    assert named_arguments(str(caught.value)) == {0, 1}
    assert "Along each argument's direction alone it agrees" in str(caught.value)


@pytest.mark.parametrize("wrong", [(1,), (0, 2)])
@pytest.mark.parametrize("modes", [("rev",), ("fwd",)])
def test_reverse_rules_wrong_for_some_arguments_name_each_of_them_and_no_other(wrong, modes):
    with pytest.raises(AssertionError, match="disagrees with central finite differences") as caught:
        check_grads(product_of_three(wrong, "vjp"), X, Y, Z, modes=modes)
    assert named_arguments(str(caught.value)) == set(wrong), str(caught.value)


def test_the_float32_audit_names_the_argument_whose_forward_rule_upcasts():
    prim = mixedad.primitive(lambda x, y: x * y)
    prim.name = "product"
    prim.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
    prim.defjvp(lambda t, out, x, y: t * y, lambda t, out, x, y: t * x * np.float64(1.0))   # float64 for y's
    with pytest.raises(AssertionError, match=r"forward rule \(jvp\) for argument 1 returns float64") as caught:
        check_grads(prim, X.astype(np.float32), Y.astype(np.float32))
    assert named_arguments(str(caught.value)) == {1}, str(caught.value)


# --- 2. a rule whose parameters do not match the call ------------------------------------------------
def rule_line(rule) -> str:
    return f"{__file__}:{rule.__code__.co_firstlineno}"


def sine():
    prim = mixedad.primitive(lambda x: np.sin(x))
    prim.name = "sine"
    return prim


def test_a_reverse_rule_without_out_is_a_signature_error_with_the_fix():
    prim = sine()
    rule = prim.defvjp(lambda g, x: g * np.cos(x))
    with pytest.raises(RuleSignatureError) as caught:
        check_grads(prim, X)
    message = str(caught.value)
    assert not isinstance(caught.value, MissingRuleError)
    assert "reverse rule (vjp) of sine" in message and rule_line(rule) in message   # which rule, where
    assert "takes (g, x)" in message and "rule(g, out, x)" in message             # what it takes, what it gets
    assert "The output comes second" in message and "lambda g, out, x: ..." in message   # how to fix it


def test_a_reverse_rule_for_the_second_argument_missing_a_parameter_names_that_rule():
    prim = mixedad.primitive(lambda x, y: x * y)
    prim.name = "product"
    prim.defvjp(lambda g, out, x, y: g * y, lambda g, out, x: g * x)
    with pytest.raises(RuleSignatureError) as caught:
        check_grads(prim, X, Y)
    message = str(caught.value)
    assert "reverse rule (vjp) for argument 1 (y) of product" in message
    assert "takes (g, out, x)" in message and "rule(g, out, x, y)" in message and "lambda g, out, x, y" in message


def test_a_forward_rule_with_the_wrong_arity_is_a_signature_error_not_a_type_error_of_the_call():
    prim = sine()
    prim.defvjp(lambda g, out, x: g * np.cos(x))
    rule = prim.defjvp(lambda t, out: t * np.cos(out))
    with pytest.raises(RuleSignatureError) as caught:
        check_grads(prim, X, modes=("rev",))   # the float32 audit calls the forward rule in either mode
    message = str(caught.value)
    assert "forward rule (jvp) of sine" in message and rule_line(rule) in message
    assert "takes (t, out)" in message and "rule(t, out, x)" in message and "lambda t, out, x: ..." in message


def test_one_forward_rule_for_two_arguments_is_told_it_receives_a_tuple_of_tangents():
    prim = mixedad.primitive(lambda x, y: x * y)
    prim.name = "product"
    prim.defvjp(lambda g, out, x, y: g * y, lambda g, out, x, y: g * x)
    prim.defjvp(lambda t, out, x: t * x)
    with pytest.raises(RuleSignatureError) as caught:
        check_grads(prim, X, Y)
    message = str(caught.value)
    assert "rule(tangents, out, x, y)" in message and "the tuple of their tangents" in message
    assert "product.defjvp(rule_x, rule_y)" in message


def test_one_reverse_rule_for_two_arguments_returning_one_array_is_not_a_missing_rule():
    prim = mixedad.primitive(lambda x, y: x * y)
    prim.name = "product"
    rule = prim.defvjp(lambda g, out, x, y: g * y)   # written for x alone: one rule is the joint one
    with pytest.raises(RuleSignatureError) as caught:
        check_grads(prim, X, Y)
    message = str(caught.value)
    assert not isinstance(caught.value, MissingRuleError)
    assert "product.defvjp got one rule" in message and rule_line(rule) in message
    assert "returned an array" in message and "(cotangent of x, cotangent of y)" in message
    assert "product.defvjp(rule_x, rule_y)" in message


def test_rules_that_take_the_call_pass_whatever_they_name_their_parameters():
    def scaled(a, k, b=None):
        return a * k + (0.0 if b is None else b * b)

    prim = mixedad.primitive(scaled, nondiff_argnums=(1,))
    prim.defvjp(lambda cotangent, result, a, k, b=None: cotangent * k,
                lambda g, out, *args: 2.0 * g * args[2])
    prim.defjvp(lambda t, out, a, k, b=None, **options: t * k, lambda t, *rest: 2.0 * t * rest[3])
    check_grads(prim, X, np.full(3, 0.5), Y)


# --- 3. why a prepared gradient traces, uncut ------------------------------------------------------------
def draw(rng):
    return rng.standard_normal(3), rng.standard_normal((4, 3))


def test_why_traced_keeps_the_whole_reason_and_the_line_it_quotes():
    def converts(w, x):
        data = np.asarray(x) * 1.0  # np.asarray of a traced constant. It is refused, so x is not traced at all
        return np.sum((data @ w) ** 2)

    prepared = mixedad.prepare(converts, *draw(np.random.default_rng(0)))
    why = prepared.why_traced
    assert not prepared.replays and len(why) > 200
    assert why.startswith("the other arguments' arrays could not be traced as constants (np.asarray")
    assert "`data = np.asarray(x) * 1.0  # np.asarray of a traced constant. It is refused, so x is not traced " \
           "at all`" in why                                           # the line, whole (with its ". ")
    assert why.endswith(", would drop its derivative)")               # and what that would lose


def test_why_traced_cuts_a_long_message_of_fs_own_at_a_word_with_an_ellipsis():
    words = " ".join(f"word{i:03d}" for i in range(60))   # 479 characters, one sentence

    def insists(w, x):
        if type(x) is not np.ndarray:
            raise TypeError(f"x must be an ndarray: {words}")
        return np.sum((x @ w) ** 2)

    prepared = mixedad.prepare(insists, *draw(np.random.default_rng(1)))
    reason = re.fullmatch(r"the other arguments' arrays could not be traced as constants \((.*)\)",
                          prepared.why_traced).group(1)
    assert reason.startswith("x must be an ndarray: word000 word001") and reason.endswith(" ...")
    kept = reason[:-len(" ...")]
    assert (f"x must be an ndarray: {words}").startswith(kept + " ")   # cut between two words
    assert 150 < len(kept) <= 200


def test_why_traced_cuts_a_long_list_of_reads_between_two_names():
    def reads_labels(w, x, y):
        k = (np.bincount(y).size + np.unique(y).size + np.sort(y)[0] + np.argsort(y)[0] + np.max(y) + np.min(y)
             + np.median(y) + np.argmax(y) + np.argmin(y) + np.nonzero(y)[0].size + np.flatnonzero(y).size
             + np.ptp(y) + np.prod(y) + np.percentile(y, 50) + np.quantile(y, 0.5) + np.partition(y, 1)[0]
             + np.argpartition(y, 1)[0] + np.lexsort([y])[0] + np.histogram(y)[0][0])   # some 290 characters
        return np.sum((x @ w) ** 2) * float(k)

    rng = np.random.default_rng(2)
    w = rng.standard_normal(3)
    prepared = mixedad.prepare(reads_labels, w, rng.standard_normal((5, 3)), rng.integers(1, 3, 5))
    for _ in range(6):   # labels that change on every call: traced, and why_traced says why
        prepared.gradient(w, rng.standard_normal((5, 3)), rng.integers(1, 3, 5))
    reads = re.search(r"\(it reads values: (.*?)\)\. For example", prepared.why_traced)
    assert reads, prepared.why_traced
    assert reads.group(1).endswith(" ...")
    names = reads.group(1)[:-len(" ...")].split(", ")
    assert names[0].startswith("numpy.bincount at ")  # where: the line in f
    assert all(re.fullmatch(r"(numpy\.\w+|float\(\)) at test_checker_reports\.py:22\d", n) for n in names), names
