"""Bad shapes and word ids fail at once, with a message naming the function,
the argument, the shape it must have and where the sizes came from."""
import numpy as np
import pytest

from cs231n import rnn_layers as L
from cs231n.shapes import check_shapes, check_word_ids

N, T, D, H, V, M = 3, 4, 5, 6, 7, 8


def test_check_shapes_binds_letters_in_order_and_names_their_source():
    sizes = check_shapes('f', w=(np.zeros((D, 4 * H)), 'D 4H'), x=(np.zeros((N, T, D)), 'N T D'),
                         b=(np.zeros(4 * H), '4H'), z=(np.zeros((2, H)), '2 H'))
    assert sizes == {'D': D, 'H': H, 'N': N, 'T': T}
    with pytest.raises(ValueError, match=r'^f: x must have shape \(N, T, D\) = \(3, 4, 5\) '
                                         r'\(D = 5 from w\); got \(3, 4, 9\): x or w has the wrong shape$'):
        check_shapes('f', w=(np.zeros((D, H)), 'D H'), x=(np.zeros((N, T, 9)), 'N T D'))
    with pytest.raises(ValueError, match=r'^f: y must have shape \(N, H\) = \(3, 6\) '
                                         r'\(N = 3 from x; H = 6 from w\); got \(3, 5\): y or x or w has the wrong shape$'):
        check_shapes('f', w=(np.zeros((D, H)), 'D H'), x=(np.zeros((N, D)), 'N D'),
                     y=(np.zeros((N, 5)), 'N H'))
    with pytest.raises(ValueError,
                       match=r'^f: b must have shape \(4H,\) = \(24,\) \(H = 6 from w\); got \(6,\): '
                             r'b or w has the wrong shape$'):
        check_shapes('f', w=(np.zeros((D, 4 * H)), 'D 4H'), b=(np.zeros(H), '4H'))
    with pytest.raises(ValueError,
                       match=r'^f: w must have shape \(D, 4H\), with 4H a multiple of 4; got \(5, 6\)$'):
        check_shapes('f', w=(np.zeros((D, H)), 'D 4H'))
    with pytest.raises(ValueError, match=r'^f: w must have shape \(H, H\) = \(6, 6\); got \(6, 5\)$'):
        check_shapes('f', w=(np.zeros((H, 5)), 'H H'))
    with pytest.raises(ValueError,
                       match=r'^f: x must be a 3-D array of shape \(N, T, D\); got shape \(3, 5\)$'):
        check_shapes('f', x=(np.zeros((N, D)), 'N T D'))
    with pytest.raises(ValueError, match=r'^f: z must have shape \(2, H\) = \(2, 6\)'):
        check_shapes('f', w=(np.zeros((D, H)), 'D H'), z=(np.zeros((3, H)), '2 H'))


def test_check_word_ids():
    check_word_ids('f', 'x', np.array([[0, 6]]), V, 'W')
    check_word_ids('f', 'x', np.zeros((0, 2), dtype=int), V, 'W')
    with pytest.raises(ValueError,
                       match=r'^f: x holds word ids in \[0, 7\], but W has V = 7: ids must be in \[0, 7\)$'):
        check_word_ids('f', 'x', np.array([0, 7]), V, 'W')
    with pytest.raises(ValueError, match=r'ids in \[-1, 3\]'):
        check_word_ids('f', 'x', np.array([-1, 3]), V, 'W')
    with pytest.raises(ValueError, match=r'^f: x must hold integer word ids; got dtype float64$'):
        check_word_ids('f', 'x', np.array([1.0]), V, 'W')


rng = np.random.default_rng(0)
A = {'x2': rng.standard_normal((N, D)), 'x3': rng.standard_normal((N, T, D)),
     'h': rng.standard_normal((N, H)), 'Wx': rng.standard_normal((D, H)),
     'Wh': rng.standard_normal((H, H)), 'b': rng.standard_normal(H),
     'Wx4': rng.standard_normal((D, 4 * H)), 'Wh4': rng.standard_normal((H, 4 * H)),
     'b4': rng.standard_normal(4 * H)}
CALLS = {  # function: (positional argument names, arrays)
    'rnn_step_forward': (['x', 'prev_h', 'Wx', 'Wh', 'b'], ['x2', 'h', 'Wx', 'Wh', 'b']),
    'rnn_forward': (['x', 'h0', 'Wx', 'Wh', 'b'], ['x3', 'h', 'Wx', 'Wh', 'b']),
    'lstm_step_forward': (['x', 'prev_h', 'prev_c', 'Wx', 'Wh', 'b'], ['x2', 'h', 'h', 'Wx4', 'Wh4', 'b4']),
    'lstm_forward': (['x', 'h0', 'Wx', 'Wh', 'b'], ['x3', 'h', 'Wx4', 'Wh4', 'b4']),
}


@pytest.mark.parametrize('fn', sorted(CALLS))
def test_cells_name_the_argument_with_a_wrong_shape(fn):
    names, keys = CALLS[fn]
    args = [A[k] for k in keys]
    getattr(L, fn)(*args)                               # the right shapes work
    for i, name in enumerate(names):
        for bad in (args[i][..., :-1], args[i][None]):  # one size off; one dimension too many
            wrong = list(args)
            wrong[i] = bad
            # the message blames the argument, or names it as the source of
            # a size that another argument does not match
            with pytest.raises(ValueError, match=r'^%s: (%s must .*|.* from %s\b.*)$' % (fn, name, name)):
                getattr(L, fn)(*wrong)


@pytest.mark.parametrize('fn', sorted(CALLS))
def test_weights_of_the_other_cell_get_a_clue(fn):
    """An LSTM model calling rnn_forward (or the other way round) is told so,
    not only that Wh has the wrong shape."""
    names, keys = CALLS[fn]
    lstm = fn.startswith('lstm')
    swap = {'Wx4': 'Wx', 'Wh4': 'Wh', 'b4': 'b'} if lstm else {'Wx': 'Wx4', 'Wh': 'Wh4', 'b': 'b4'}
    other = [A[swap.get(k, k)] for k in keys]
    clue = r'is an RNN model calling an lstm_\* function\?' if lstm else \
        r'is an LSTM model calling an rnn_\* function\?'
    with pytest.raises(ValueError, match=r'^%s: .*%s\)$' % (fn, clue)):
        getattr(L, fn)(*other)
    # weights of no cell get no clue
    args = [A[k] for k in keys]
    args[names.index('Wh')] = A['Wh'][:, :-1] if not lstm else A['Wh4'][:, :-1]
    with pytest.raises(ValueError) as err:
        getattr(L, fn)(*args)
    assert 'calling' not in str(err.value)


def test_word_embedding_forward_checks_its_inputs():
    W = rng.standard_normal((V, D))
    L.word_embedding_forward(np.array([[0, V - 1]]), W)
    # one word per sample, as official sampling code passes it: (N,) -> (N, D), and back
    out, cache = L.word_embedding_forward(np.array([0, 3, 3]), W)
    assert out.shape == (3, D) and np.array_equal(out, W[[0, 3, 3]])
    dW = L.word_embedding_backward(np.ones((3, D)), cache)
    assert np.array_equal(dW[3], 2 * np.ones(D)) and np.array_equal(dW[0], np.ones(D)) and not dW[1].any()
    with pytest.raises(ValueError, match=r'^word_embedding_forward: x must be a numpy array .*np.asarray'):
        L.word_embedding_forward([[0, 1]], W)
    with pytest.raises(ValueError, match=r'^word_embedding_forward: W must be a 2-D array'):
        L.word_embedding_forward(np.array([[0, 1]]), W[0])
    with pytest.raises(ValueError, match=r'^word_embedding_forward: x holds word ids in \[0, 7\], '
                                         r'but W has V = 7'):
        L.word_embedding_forward(np.array([[0, V]]), W)
    with pytest.raises(ValueError, match=r'^word_embedding_forward: x must hold integer word ids'):
        L.word_embedding_forward(np.array([[0.0, 1.0]]), W)


def test_temporal_layers_check_their_inputs():
    x, w, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    L.temporal_affine_forward(x, w, b)
    with pytest.raises(ValueError, match=r'^temporal_affine_forward: x must have shape \(N, T, D\) '
                                         r'= \(3, 4, 5\) \(D = 5 from w\); got \(3, 4, 4\): x or w has the wrong shape$'):
        L.temporal_affine_forward(x[..., :-1], w, b)
    with pytest.raises(ValueError, match=r'^temporal_affine_forward: b must have shape \(M,\)'):
        L.temporal_affine_forward(x, w, b[:-1])
    out, cache = L.temporal_affine_forward(x, w, b)
    L.temporal_affine_backward(out, cache)
    with pytest.raises(ValueError, match=r'^temporal_affine_backward: dout must have shape \(N, T, M\) '
                                         r'= \(3, 4, 8\) \(N = 3, T = 4 from x; M = 8 from w\); got \(3, 4, 7\)$'):
        L.temporal_affine_backward(out[..., :-1], cache)
    scores = rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = np.ones((N, T), dtype=bool)
    L.temporal_softmax_loss(scores, y, mask)
    with pytest.raises(ValueError, match=r'^temporal_softmax_loss: y must have shape \(N, T\)'):
        L.temporal_softmax_loss(scores, y[:, :-1], mask)
    with pytest.raises(ValueError, match=r'^temporal_softmax_loss: mask must have shape \(N, T\)'):
        L.temporal_softmax_loss(scores, y, mask[:-1])
    y_bad = y.copy()
    y_bad[0, 0] = V
    with pytest.raises(ValueError, match=r'^temporal_softmax_loss: y \(where mask is True\) holds word '
                                         r'ids in \[\d+, 7\], but x has V = 7'):
        L.temporal_softmax_loss(scores, y_bad, mask)
    # where the mask is False, y is not used: any id there is accepted
    mask[0, 0] = False
    loss_bad, dx_bad = L.temporal_softmax_loss(scores, y_bad, mask)
    loss, dx = L.temporal_softmax_loss(scores, y, mask)
    assert loss_bad == loss and np.array_equal(dx_bad, dx)
