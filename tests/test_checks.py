"""The notebooks' check helpers (cs231n/checks.py and the setup cell): the
messages a student sees when a check fails, run on the real check cells with
deliberately wrong layers."""
from pathlib import Path

import nbformat
import numpy as np
import pytest

from cs231n import checks, rnn_layers
from cs231n.classifiers.rnn import CaptioningRNN

REPO = Path(__file__).resolve().parent.parent


def strip_magics(source):
    return '\n'.join('' if line.lstrip().startswith(('%', '!')) else line for line in source.split('\n'))


@pytest.fixture
def notebook(monkeypatch):
    """Runs cells of the RNN notebook in one namespace, after its setup cell;
    run(text) runs the code cell containing text, layers(**f) swaps layers."""
    checks.forget_failures()
    nb = nbformat.read(REPO / 'notebooks' / 'RNN_Captioning.ipynb', as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == 'code']
    ns = {'__name__': '__main__'}
    exec(strip_magics(next(c for c in code if 'def rel_error' in c)), ns)

    def run(text):
        cell, = [c for c in code if text in c]
        exec(strip_magics(cell), ns)

    def message(text):
        with pytest.raises(AssertionError) as e:
            run(text)
        return str(e.value)

    run.message = message
    run.ns = ns
    yield run
    checks.forget_failures()


STEP_FWD, STEP_BWD, SEQ_BWD = "check('rnn_step_forward next_h'", "check('rnn_step_backward dx'", "check('rnn_backward dx'"


def test_a_wrong_forward_is_named_by_the_failing_backward_check_until_it_passes(notebook):
    right = rnn_layers.rnn_step_forward
    notebook.ns['rnn_step_forward'] = lambda *a: (2 * right(*a)[0], right(*a)[1])   # wrong values
    assert 'rnn_step_forward next_h: error' in notebook.message(STEP_FWD)
    msg = notebook.message(STEP_BWD)                 # the right backward, against your (wrong) forward
    assert msg.startswith('rnn_step_backward dx: error')
    assert 'Note: the check of rnn_step_forward, which this check may build on' in msg
    notebook.ns['rnn_step_forward'] = right          # fixed and its check run again: no note any more
    notebook(STEP_FWD)
    right_bwd = rnn_layers.rnn_step_backward
    notebook.ns['rnn_step_backward'] = lambda d, c: tuple(-g for g in right_bwd(d, c))
    msg = notebook.message(STEP_BWD)
    assert msg.startswith('rnn_step_backward dx: error') and 'Note:' not in msg


def test_a_wrong_step_backward_is_named_by_the_sequence_backward_check(notebook):
    right = rnn_layers.rnn_step_backward
    notebook.ns['rnn_step_backward'] = lambda d, c: tuple(2 * g for g in right(d, c))
    notebook.message(STEP_BWD)
    # the sequence check runs the package's rnn_backward; make it use the wrong step
    notebook.ns['rnn_backward'] = lambda dh, cache: tuple(2 * g for g in rnn_layers.rnn_backward(dh, cache))
    msg = notebook.message(SEQ_BWD)
    assert msg.startswith('rnn_backward dx: error') and 'the check of rnn_step_backward' in msg


def test_a_note_names_only_the_checks_a_check_may_build_on(notebook):
    right = rnn_layers.rnn_step_forward
    notebook.ns['rnn_step_forward'] = lambda *a: (2 * right(*a)[0], right(*a)[1])
    notebook.message(STEP_FWD)
    right_loss = rnn_layers.temporal_softmax_loss
    notebook.ns['temporal_softmax_loss'] = lambda *a, **k: (right_loss(*a, **k)[0], 2 * right_loss(*a, **k)[1])
    msg = notebook.message("check('temporal_softmax_loss dx'")
    assert msg.startswith('temporal_softmax_loss dx: error') and 'Note' not in msg   # unrelated to the RNN
    # the model may use every layer: both earlier failures are named, in the order they happened
    assert ('Note: the check of rnn_step_forward, temporal_softmax_loss did not pass when last run'
            in checks.failure_message('CaptioningRNN.loss', 1.0, 1e-10))
    # rnn_backward builds on rnn_step_forward through rnn_forward and rnn_step_backward
    notebook.ns['rnn_backward'] = lambda dh, cache: tuple(2 * g for g in rnn_layers.rnn_backward(dh, cache))
    msg = notebook.message(SEQ_BWD)
    assert 'Note: the check of rnn_step_forward, which' in msg and 'temporal_softmax_loss' not in msg


def test_a_result_of_the_wrong_shape_is_named_with_both_shapes(notebook):
    right_fwd, right_bwd = rnn_layers.rnn_step_forward, rnn_layers.rnn_step_backward
    notebook.ns['rnn_step_forward'] = lambda *a: (right_fwd(*a)[0].T, right_fwd(*a)[1])
    assert notebook.message(STEP_FWD).startswith(
        'rnn_step_forward next_h: your result has shape (4, 3), expected (3, 4)')
    # the backward check stops before its numerical gradients, at the forward's shape
    msg = notebook.message(STEP_BWD)
    assert msg.startswith('rnn_step_forward next_h has shape (6, 4), expected (4, 6)')
    notebook.ns['rnn_step_forward'] = right_fwd

    # db not summed over the minibatch: (N, H) instead of (H,)
    notebook.ns['rnn_step_backward'] = lambda d, c: right_bwd(d, c)[:4] + (np.ones_like(d),)
    assert notebook.message(STEP_BWD).startswith(
        'rnn_step_backward db: your result has shape (4, 6), expected (6,)')


def test_shape_mismatch_is_an_infinite_error_that_says_why():
    err = checks.ShapeMismatch(expected=(6,), got=(4, 6))
    assert err == float('inf') and not err < 1e-8
    assert 'expected (6,), got (4, 6)' in repr(err)
    checks.forget_failures()
    assert checks.failure_message('f x', err, 1e-8).startswith('f x: your result has shape (4, 6), expected (6,)')
    assert checks.failure_message('f x', 3e-3, 1e-8, 'Hint: h.') == 'f x: error 3.00e-03 is not below 1e-08. Hint: h.'
    checks.forget_failures()


def test_check_shape_passes_the_right_shape_and_remembers_a_wrong_one():
    checks.forget_failures()
    checks.check_shape('g out', np.zeros((2, 3)), (2, 3))
    with pytest.raises(AssertionError, match=r'g out has shape \(3, 2\), expected \(2, 3\): see the docstring of g'):
        checks.check_shape('g out', np.zeros((3, 2)), (2, 3))
    assert 'the check of g did not pass' in checks.failure_message('h dx', 1.0, 1e-8)
    checks.check_passed('g out')
    assert 'Note' not in checks.failure_message('h dx', 1.0, 1e-8)
    checks.forget_failures()


def test_forget_failures_drops_every_note():
    checks.failure_message('a x', 1.0, 1e-8)
    checks.forget_failures()
    assert 'Note' not in checks.failure_message('b x', 1.0, 1e-8)
    checks.forget_failures()


EXPECTED = np.array([[3, 7, 5, 2, 0, 0], [7, 5, 2, 0, 0, 0], [5, 3, 4, 4, 4, 5]])   # rnn, seed 552


@pytest.mark.parametrize('wrong, hint', [
    (lambda c: np.where(c == 0, 4, c), "after a caption's <END> every position must hold <NULL> (0)"),
    (lambda c: np.hstack([np.ones((3, 1), int), c[:, :-1]]), 'column 0 must hold the first generated word'),
    (lambda c: np.where(c == 2, 0, c), 'there is <NULL> (0) instead of <END> (2)'),
    (lambda c: c[:, ::-1], 'the given hint'),
    (lambda c: c[:, :-1], 'sample returned shape (3, 5), expected (N, max_length) = (3, 6)'),
])
def test_the_sample_check_says_what_is_most_likely_wrong(monkeypatch, wrong, hint):
    checks.forget_failures()
    right = CaptioningRNN.sample
    assert checks.check_tiny_sample('rnn', 552, EXPECTED, 'the given hint') is None   # prints, shows no array
    monkeypatch.setattr(CaptioningRNN, 'sample', lambda self, f, max_length=30: wrong(right(self, f, max_length)))
    with pytest.raises(AssertionError) as e:
        checks.check_tiny_sample('rnn', 552, EXPECTED, 'the given hint')
    assert str(e.value).startswith('CaptioningRNN.sample words: ') and hint in str(e.value)
    checks.forget_failures()


def _softmax_loss_by_time(x, y, mask, verbose=False):
    """A correct temporal softmax loss written another way (a loop over time,
    no max shift): other rounding than the package's."""
    N, T, V = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for t in range(T):
        p = np.exp(x[:, t])
        p /= p.sum(axis=1, keepdims=True)
        loss -= np.sum(np.log(p[np.arange(N), y[:, t]]) * mask[:, t])
        p[np.arange(N), y[:, t]] -= 1
        dx[:, t] = p * mask[:, t][:, None]
    return loss / N, dx / N


@pytest.mark.parametrize('variant', ['package', 'plain', 'plain, softmax by time'])
def test_model_gradient_check_passes_correct_losses_with_room(notebook, variant, monkeypatch):
    """The notebook's gradient check of CaptioningRNN on correct losses of
    other rounding: every error at most a fifth of the tolerance (with the
    official h = 1e-6, dWx's came out at 5e-7 to 9e-7 against 1e-6)."""
    import sys
    sys.path.insert(0, str(REPO / 'grading'))
    import plain_reference as plain
    if variant != 'package':
        if 'by time' in variant:
            monkeypatch.setattr(plain, 'temporal_softmax_loss', _softmax_loss_by_time)
        monkeypatch.setattr(CaptioningRNN, 'loss', lambda self, f, c: plain.captioning_loss(self, f, c))
    cell = "check(f'CaptioningRNN grad {param_name}'"
    notebook(cell)                                   # passes
    errors = notebook.ns['errors']
    assert len(errors) == 8 and max(errors.values()) < 1e-6 / 5, errors


def _db_blocks(seed=0, H=6):
    return np.random.RandomState(seed).randn(4 * H)


@pytest.mark.parametrize('change, says', [
    (lambda db: db.copy(), 'db is right, so are the gradients of the four gates: look at the products'),
    (lambda db: db.reshape(4, -1)[[0, 1, 3, 2]].ravel(), 'the right gate gradients in another order, i, f, g, o'),
    (lambda db: db * np.repeat([1, 1, 2, 1], 6), 'the gradient of o is wrong (i, f, g right). do = dnext_h'),
    (lambda db: db * np.repeat([1, 1, 1, 3], 6), 'the gradient of g is wrong (i, f, o right). dg = dc * i'),
    (lambda db: db * np.repeat([2, 3, 1, 4], 6), 'the gradient of i, f, g is wrong (o right). With o right, dc '
                                                 'is wrong: dc = dnext_c + dnext_h * o * (1 - tanh(next_c)**2)'),
    (lambda db: db * np.repeat([2, 3, 1.5, 4], 6), 'the gradient of i, f, o, g is wrong (no gate right). dc gets'),
    (lambda db: db * np.repeat([2, 1, 3, 1], 6), 'the gradient of i, o is wrong (f, g right). dc gets'),
    (lambda db: db[:-1], 'Hint: dc gets'),                 # another shape: the check of db says so
])
def test_the_lstm_step_backward_hint_names_the_wrong_gates_from_db(change, says):
    db_num = _db_blocks()
    hint = checks.lstm_gate_hint(db_num, change(db_num), 'Hint: dc gets the two paths.')
    assert says in hint, hint


def test_a_lstm_step_backward_whose_dc_misses_the_path_through_next_h_is_told_so():
    """A real mistake, through the notebook's numerical db: dc = dnext_c only."""
    from cs231n import rnn_layers
    from cs231n.gradient_check import eval_numerical_gradient_array
    rng = np.random.RandomState(231)
    N, D, H = 4, 5, 6
    x, prev_h, prev_c = rng.randn(N, D), rng.randn(N, H), rng.randn(N, H)
    Wx, Wh, b = rng.randn(D, 4 * H), rng.randn(H, 4 * H), rng.randn(4 * H)
    next_h, next_c, cache = rnn_layers.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    dnext_h, dnext_c = rng.randn(N, H), rng.randn(N, H)
    db_num = (eval_numerical_gradient_array(lambda b: rnn_layers.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[0], b, dnext_h)
              + eval_numerical_gradient_array(lambda b: rnn_layers.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[1], b, dnext_c))
    db_right = rnn_layers.lstm_step_backward(dnext_h, dnext_c, cache)[-1]
    assert 'db is right' in checks.lstm_gate_hint(db_num, db_right, '')
    # the path through next_h left out of dc: as if dnext_h reached only o
    db_o_only = rnn_layers.lstm_step_backward(dnext_h, np.zeros_like(dnext_c), cache)[-1].reshape(4, H)
    db_c_only = rnn_layers.lstm_step_backward(np.zeros_like(dnext_h), dnext_c, cache)[-1].reshape(4, H)
    wrong = np.concatenate([db_c_only[0], db_c_only[1], db_o_only[2], db_c_only[3]])
    assert 'With o right, dc is wrong' in checks.lstm_gate_hint(db_num, wrong, '')


def test_fail_stops_with_the_message_and_remembers_it():
    checks.forget_failures()
    with pytest.raises(AssertionError, match=r'^lstm_step_forward large inputs: numpy says'):
        checks.fail('lstm_step_forward large inputs', 'numpy says "overflow"')
    assert 'the check of lstm_step_forward' in checks.failure_message('lstm_step_backward dx', 1.0, 1e-7)
    checks.forget_failures()


def test_a_result_with_time_on_axis_0_is_told_to_stack_along_axis_1():
    checks.forget_failures()
    with pytest.raises(AssertionError, match=r'h has shape \(3, 2, 4\), expected \(2, 3, 4\): see the docstring '
                                             r'of lstm_forward\. The first two axes are swapped.*np\.stack'):
        checks.check_shape('lstm_forward h', np.zeros((3, 2, 4)), (2, 3, 4))
    message = checks.failure_message('lstm_backward dx', checks.ShapeMismatch((2, 10, 3), (10, 2, 3)), 1e-7)
    assert 'The first two axes are swapped' in message
    other = checks.failure_message('lstm_backward dx', checks.ShapeMismatch((2, 10, 3), (2, 3, 10)), 1e-7)
    assert 'swapped' not in other
    checks.forget_failures()
