"""The notebooks' check cells judge what a function returns, not how it treats
its inputs: a backward pass that adds into its upstream gradient in place
(`dh[:, t] += dprev_h`, a common way to write it) is correct and passes, while
a wrong one still fails. The cells run here as plain Python, magics left out."""
import importlib.util
from pathlib import Path

import matplotlib
import pytest

from cs231n import rnn_layers as L

matplotlib.use('Agg')
ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location('build_notebooks', ROOT / 'tools' / 'build_notebooks.py')
build_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_notebooks)


def _cells(src):
    text = (ROOT / 'notebooks' / 'src' / src).read_text()
    return [s for kind, _, s in build_notebooks.parse(text) if kind == 'code']


def _namespace(cells):
    ns = {}
    setup = next(c for c in cells if 'def check(' in c)
    exec('\n'.join(line for line in setup.splitlines() if not line.startswith('%')), ns)
    return ns


def _scribbling(fn):
    """fn, correct, but leaving garbage in its first argument afterwards."""
    def wrapped(dout, cache):
        grads = fn(dout, cache)
        dout += 1.0
        return grads
    return wrapped


def _halved(fn):
    """fn with every gradient it returns halved: wrong."""
    def wrapped(dout, cache):
        grads = fn(dout, cache)
        return tuple(0.5 * g for g in grads) if isinstance(grads, tuple) else 0.5 * grads
    return wrapped


CASES = [('rnn_captioning.py', 'rnn_backward', 'dx, dh0, dWx, dWh, db = rnn_backward('),
         ('rnn_captioning.py', 'word_embedding_backward', 'dW = word_embedding_backward('),
         ('lstm_captioning.py', 'lstm_backward', 'dx, dh0, dWx, dWh, db = lstm_backward(')]


@pytest.mark.parametrize('src, name, call', CASES)
def test_a_backward_pass_may_change_its_upstream_gradient(src, name, call):
    cells = _cells(src)
    cell = next(c for c in cells if call in c)
    ns = _namespace(cells)
    ns[name] = _scribbling(getattr(L, name))
    exec(cell, ns)                     # passes: the gradients are right
    ns[name] = _halved(getattr(L, name))
    with pytest.raises(AssertionError, match=name):
        exec(cell, ns)                 # a wrong pass still fails


def _with_sigmoid(sigmoid):
    """lstm_step_forward with another sigmoid in its place."""
    def step(x, prev_h, prev_c, Wx, Wh, b):
        real = L.sigmoid
        L.sigmoid = sigmoid
        try:
            return L.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
        finally:
            L.sigmoid = real
    return step


def _step_forward_cell():
    cells = _cells('lstm_captioning.py')
    return cells, next(c for c in cells if "check('lstm_step_forward next_c'" in c)


def test_the_lstm_step_forward_cell_notes_an_overflowing_sigmoid_and_fails_a_nan_one(capsys):
    import numpy as np
    cells, cell = _step_forward_cell()
    ns = _namespace(cells)
    ns['lstm_step_forward'] = L.lstm_step_forward      # the given stable sigmoid: no note
    exec(cell, ns)
    out = capsys.readouterr().out
    assert 'PASS lstm_step_forward large inputs: finite' in out and 'NOTE' not in out
    ns['lstm_step_forward'] = _with_sigmoid(lambda a: 1 / (1 + np.exp(-a)))   # right values, warnings
    exec(cell, ns)
    out = capsys.readouterr().out
    assert 'PASS lstm_step_forward large inputs' in out
    assert 'NOTE: for large inputs numpy says "overflow encountered in exp"' in out
    ns['lstm_step_forward'] = _with_sigmoid(lambda a: np.exp(a) / (1 + np.exp(a)))   # inf / inf
    with pytest.raises(AssertionError, match=r'^lstm_step_forward large inputs: next_h or next_c is not '
                                             r'finite for large inputs'):
        exec(cell, ns)
