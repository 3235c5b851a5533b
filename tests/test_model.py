"""CaptioningRNN: the assignment's loss values, gradient checks, sampling
semantics and errors for bad input."""
import numpy as np
import pytest

from cs231n.classifiers.rnn import CaptioningRNN
from cs231n.gradient_check import eval_numerical_gradient

from conftest import rel_error

WORD_TO_IDX = {'<NULL>': 0, 'cat': 2, 'dog': 3}


def assignment_model(cell_type, feature_range):
    N, D, W, H, T = 10, 20, 30, 40, 13
    V = len(WORD_TO_IDX)
    model = CaptioningRNN(WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H,
                          cell_type=cell_type, dtype=np.float64)
    for k, v in model.params.items():
        model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)
    features = np.linspace(*feature_range, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % V).reshape(N, T)
    return model, features, captions


@pytest.mark.parametrize('cell_type,feature_range,expected', [
    ('rnn', (-1.5, 0.3), 9.83235591003),
    ('lstm', (-0.5, 1.7), 9.82445935443),
])
def test_loss_expected(cell_type, feature_range, expected):
    model, features, captions = assignment_model(cell_type, feature_range)
    loss, grads = model.loss(features, captions)
    assert abs(loss - expected) < 1e-10
    assert set(grads) == set(model.params)


def test_parameters_created_in_order_with_scaling():
    np.random.seed(0)
    m = CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3}, input_dim=400,
                      wordvec_dim=300, hidden_dim=200, cell_type='lstm')
    assert list(m.params) == ['W_embed', 'W_proj', 'b_proj', 'Wx', 'Wh', 'b', 'W_vocab', 'b_vocab']
    shapes = {k: v.shape for k, v in m.params.items()}
    assert shapes == {'W_embed': (4, 300), 'W_proj': (400, 200), 'b_proj': (200,),
                      'Wx': (300, 800), 'Wh': (200, 800), 'b': (800,),
                      'W_vocab': (200, 4), 'b_vocab': (4,)}
    assert all(v.dtype == np.float32 for v in m.params.values())
    assert abs(m.params['W_embed'].std() - 0.01) < 0.002
    assert abs(m.params['Wx'].std() - 1 / np.sqrt(300)) < 0.002
    assert abs(m.params['W_proj'].std() - 1 / np.sqrt(400)) < 0.002
    assert not m.params['b'].any() and not m.params['b_vocab'].any()


def test_loss_gradcheck_assignment(cell_type='rnn'):
    """The assignment's check of the RNN model: every relative error is tiny.
    (For the LSTM, entries of dWx near 1e-5 drown in the noise of h=1e-6;
    test_loss_gradcheck covers it.)"""
    np.random.seed(231)
    N, T, D, W, H = 2, 3, 4, 5, 6
    V = len(WORD_TO_IDX)
    captions = np.random.randint(V, size=(N, T))
    features = np.random.randn(N, D)
    model = CaptioningRNN(WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H,
                          cell_type=cell_type, dtype=np.float64)
    loss, grads = model.loss(features, captions)
    for name in sorted(model.params):
        num = eval_numerical_gradient(lambda p: model.loss(features, captions)[0],
                                      model.params[name], verbose=False, h=1e-6)
        assert rel_error(num, grads[name]) < 1e-6, name


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
@pytest.mark.parametrize('seed', [231, 7])
def test_loss_gradcheck(cell_type, seed):
    """Larger random cases with padding. Entries of a gradient near zero carry
    finite-difference noise, so the error is measured against the largest entry."""
    np.random.seed(seed)
    N, D, W, H, T = 3, 4, 5, 6, 5
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'cat': 3, 'dog': 4}
    V = len(word_to_idx)
    captions = np.random.randint(V, size=(N, T))
    captions[0, 3:] = 0  # a padded caption: masked positions
    features = np.random.randn(N, D)
    model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H,
                          cell_type=cell_type, dtype=np.float64)
    loss, grads = model.loss(features, captions)
    for name in sorted(model.params):
        num = eval_numerical_gradient(lambda p: model.loss(features, captions)[0],
                                      model.params[name], verbose=False)
        assert np.abs(num - grads[name]).max() <= 1e-7 * np.abs(num).max(), name


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
@pytest.mark.parametrize('holes', [False, True])
def test_loss_matches_full_vocab_scoring(cell_type, holes):
    """Scoring only the unmasked positions, and running the cell only as far
    as each caption needs, gives the plain layer-by-layer loss and gradients,
    also when a <NULL> sits inside a caption (a masked position with scored
    positions after it)."""
    from cs231n.rnn_layers import (lstm_forward, rnn_forward, temporal_affine_forward,
                                   temporal_softmax_loss)
    np.random.seed(3)
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'b': 4, 'c': 5}
    model = CaptioningRNN(word_to_idx, input_dim=6, wordvec_dim=5, hidden_dim=7,
                          cell_type=cell_type, dtype=np.float64)
    captions = np.random.randint(1, 6, size=(4, 8))
    captions[1, 4:] = 0
    captions[2, 2:] = 0
    if holes:
        captions[3, 3] = 0
        captions[0, 1:6] = 0
    features = np.random.randn(4, 6)
    loss, grads = model.loss(features, captions)
    p = model.params

    def plain_loss():
        h0 = features @ p['W_proj'] + p['b_proj']
        x = p['W_embed'][captions[:, :-1]]
        fwd = rnn_forward if cell_type == 'rnn' else lstm_forward
        h, _ = fwd(x, h0, p['Wx'], p['Wh'], p['b'])
        scores, _ = temporal_affine_forward(h, p['W_vocab'], p['b_vocab'])
        return temporal_softmax_loss(scores, captions[:, 1:], captions[:, 1:] != 0)[0]
    assert abs(loss - plain_loss()) < 1e-12
    for name in sorted(p):
        num = eval_numerical_gradient(lambda _: plain_loss(), p[name], verbose=False)
        assert np.abs(num - grads[name]).max() <= 1e-7 * np.abs(num).max(), name


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
def test_loss_does_not_depend_on_batch_order(cell_type):
    """loss() reorders the minibatch by caption length inside; the loss and
    the gradients are those of the minibatch in any order."""
    np.random.seed(11)
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'b': 4, 'c': 5}
    model = CaptioningRNN(word_to_idx, input_dim=6, wordvec_dim=5, hidden_dim=7,
                          cell_type=cell_type, dtype=np.float64)
    captions = np.random.randint(3, 6, size=(6, 10))
    captions[:, 0] = 1
    for n, length in enumerate([2, 8, 0, 5, 8, 3]):   # words before <END>
        captions[n, length + 1] = 2
        captions[n, length + 2:] = 0
    features = np.random.randn(6, 6)
    loss, grads = model.loss(features, captions)
    for perm in ([5, 4, 3, 2, 1, 0], [2, 0, 4, 1, 5, 3]):
        loss_p, grads_p = model.loss(features[perm], captions[perm])
        assert abs(loss_p - loss) <= 1e-12 * abs(loss)
        for k in grads:
            assert np.abs(grads_p[k] - grads[k]).max() <= 1e-12 * np.abs(grads[k]).max(), k


def tiny_model(cell_type, seed=0):
    np.random.seed(seed)
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3, 'b': 4}
    return CaptioningRNN(word_to_idx, input_dim=3, wordvec_dim=4, hidden_dim=5,
                         cell_type=cell_type, dtype=np.float64)


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_loss_with_nothing_to_predict(cell_type, dtype):
    """Captions that are <START> and then only <NULL>: nothing is scored, the
    loss is 0 and every gradient is zero, with the parameters' shapes and
    dtype."""
    rng = np.random.default_rng(2)
    model = CaptioningRNN(WORD_TO_IDX, input_dim=6, wordvec_dim=4, hidden_dim=5,
                          cell_type=cell_type, dtype=dtype)
    captions = np.zeros((3, 7), dtype=int)
    captions[:, 0] = 2
    loss, grads = model.loss(rng.standard_normal((3, 6)), captions)
    assert loss == 0 and not np.signbit(loss)
    assert grads.keys() == model.params.keys()
    for k, g in grads.items():
        assert g.shape == model.params[k].shape and g.dtype == dtype, k
        assert not g.any(), k


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
def test_sample_is_greedy_and_stops_at_end(cell_type):
    model = tiny_model(cell_type)
    p = model.params
    p['W_vocab'] *= 0
    p['b_vocab'][:] = [0, 0, 0, 5, 1]          # 'a' is always the most likely word
    feats = np.random.randn(4, 3)
    caps = model.sample(feats, max_length=6)
    assert caps.shape == (4, 6) and np.issubdtype(caps.dtype, np.integer)
    assert (caps == 3).all()                    # first column is already a generated word
    p['b_vocab'][:] = [0, 0, 9, 5, 1]           # now <END> first: the rest must be <NULL>
    caps = model.sample(feats, max_length=6)
    assert (caps[:, 0] == 2).all() and (caps[:, 1:] == 0).all()


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
def test_sample_matches_step_by_step_argmax(cell_type):
    from cs231n.rnn_layers import lstm_step_forward, rnn_step_forward
    model = tiny_model(cell_type, seed=4)
    p = model.params
    p['W_vocab'] *= 5  # make the choices depend on the state
    feats = np.random.randn(6, 3)
    caps = model.sample(feats, max_length=8)
    for n in range(6):
        h = feats[n:n + 1] @ p['W_proj'] + p['b_proj']
        c = np.zeros_like(h)
        word, ended = 1, False
        for t in range(8):
            x = p['W_embed'][[word]]
            if cell_type == 'rnn':
                h, _ = rnn_step_forward(x, h, p['Wx'], p['Wh'], p['b'])
            else:
                h, c, _ = lstm_step_forward(x, h, c, p['Wx'], p['Wh'], p['b'])
            word = int(np.argmax(h @ p['W_vocab'] + p['b_vocab']))
            expected = 0 if ended else word
            assert caps[n, t] == expected, (n, t)
            ended = ended or word == 2


def test_bad_cell_type():
    with pytest.raises(ValueError, match="cell_type must be 'rnn' or 'lstm'"):
        CaptioningRNN(WORD_TO_IDX, cell_type='gru')


def test_bad_feature_dimension():
    model = tiny_model('rnn')
    with pytest.raises(ValueError, match=r'features must have shape \(N, 3\).*input_dim=3.*\(2, 7\)'):
        model.loss(np.zeros((2, 7)), np.ones((2, 5), dtype=int))
    with pytest.raises(ValueError, match=r'features must have shape \(N, 3\)'):
        model.sample(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r'features must have shape'):
        model.sample(np.zeros(3))


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_features_that_are_not_finite_are_refused(bad):
    model = tiny_model('rnn')
    feats = np.ones((4, 3))
    feats[2, 1] = bad
    with pytest.raises(ValueError, match=r'features hold NaN or infinite values \(in 1 row\(s\), the first row 2\)'):
        model.sample(feats)
    with pytest.raises(ValueError, match='NaN or infinite'):
        model.loss(feats, np.ones((4, 5), dtype=int))


def test_bad_caption_ids():
    model = tiny_model('lstm')
    caps = np.array([[1, 3, 9, 2]])
    with pytest.raises(ValueError, match=r'captions.*outside the vocabulary range \[0, 5\)'):
        model.loss(np.zeros((1, 3)), caps)
    with pytest.raises(ValueError, match=r'captions.*outside the vocabulary'):
        model.loss(np.zeros((1, 3)), np.array([[1, -1, 2]]))
    with pytest.raises(ValueError, match=r'captions must have shape \(N, T\) with N=2'):
        model.loss(np.zeros((2, 3)), np.array([[1, 3, 2]]))


@pytest.mark.parametrize('kwargs,message', [
    ({'hidden_dim': 0}, r'hidden_dim must be an integer >= 1; got 0'),
    ({'input_dim': '512'}, r"input_dim must be an integer >= 1; got '512'"),
    ({'wordvec_dim': 2.5}, r'wordvec_dim must be an integer >= 1; got 2.5'),
    ({'dtype': np.int32}, r'dtype must be a floating type'),
])
def test_constructor_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2}, **kwargs)
    with pytest.raises(ValueError, match=r"word_to_idx must be a dict .* got list"):
        CaptioningRNN(['<NULL>', '<START>'])


def test_empty_minibatch_is_refused():
    model = CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2}, input_dim=4, wordvec_dim=3, hidden_dim=5)
    with pytest.raises(ValueError, match=r'N >= 1\) and T >= 2; got shape \(0, 5\)'):
        model.loss(np.zeros((0, 4), np.float32), np.zeros((0, 5), int))


def test_sample_says_when_its_captions_are_not_word_ids():
    """The given end of sample checks what the student's loop left in
    captions, so a float array fails there, naming sample, not later in
    decode_captions."""
    from cs231n.classifiers.rnn import _word_ids
    ok = np.zeros((2, 3), dtype=np.int32)
    assert _word_ids('sample', ok, (2, 3)) is ok
    with pytest.raises(ValueError, match=r'^CaptioningRNN.sample: captions must hold integer word ids; '
                                         r'got dtype float64 \(keep the int32 array'):
        _word_ids('sample', np.zeros((2, 3)), (2, 3))
    with pytest.raises(ValueError, match=r'shape \(N, max_length\) = \(2, 3\); got \(3, 2\)'):
        _word_ids('sample', ok.T, (2, 3))
    with pytest.raises(ValueError, match=r'got list'):
        _word_ids('sample', [[0, 1, 2]] * 2, (2, 3))
