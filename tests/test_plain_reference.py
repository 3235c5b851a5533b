"""grading/plain_reference.py, the plain solution a TA reads, gives the results
of the package's fast reference solution (its sequence layers are compared
with the package's in test_rnn_fast.py)."""
import sys

import numpy as np
import pytest

from cs231n.classifiers.rnn import CaptioningRNN

from conftest import REPO

sys.path.insert(0, str(REPO / 'grading'))
import plain_reference as plain  # noqa: E402

LAYERS = {'rnn': (plain.rnn_forward, plain.rnn_backward), 'lstm': (plain.lstm_forward, plain.lstm_backward)}


def close(got, want, tol):
    return np.abs(got - want).max() <= tol * max(np.abs(want).max(), 1.0)


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
def test_sequence_layers_keep_float32(cell):
    plain_fwd, plain_bwd = LAYERS[cell]
    rng = np.random.default_rng(2)
    m = 4 if cell == 'lstm' else 1
    args = [rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4), (2, 5), (4, 5 * m), (5, 5 * m), (5 * m,)]]
    h, cache = plain_fwd(*args)
    assert h.dtype == np.float32
    assert all(g.dtype == np.float32 for g in plain_bwd(np.ones_like(h), cache))


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
@pytest.mark.parametrize('dtype,tol', [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_captioning_loss_matches_the_model(cell, dtype, tol):
    """Also with a <NULL> inside a caption, captions that end early and one
    with nothing to predict, which the fast loss handles specially."""
    np.random.seed(7)
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'b': 4, 'c': 5}
    model = CaptioningRNN(word_to_idx, input_dim=6, wordvec_dim=5, hidden_dim=7,
                          cell_type=cell, dtype=dtype)
    captions = np.random.randint(1, 6, size=(5, 9))
    captions[1, 5:] = 0
    captions[2, 3] = 0           # a hole
    captions[3, 1:] = 0          # nothing to predict
    features = np.random.randn(5, 6).astype(dtype)
    loss, grads = model.loss(features, captions)
    loss_plain, grads_plain = plain.captioning_loss(model, features, captions)
    assert abs(loss_plain - loss) <= tol * abs(loss)
    assert sorted(grads_plain) == sorted(model.params)
    for name in model.params:
        assert grads_plain[name].dtype == dtype, name
        assert close(grads_plain[name], grads[name], tol), name
