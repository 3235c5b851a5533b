"""Layer tests: the assignment's expected arrays, and numerical gradient checks
in float64 on several shapes, seeds and edge cases."""
import numpy as np
import pytest

from cs231n.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from cs231n.rnn_layers import (lstm_backward, lstm_forward, lstm_step_backward,
                               lstm_step_forward, rnn_backward, rnn_forward,
                               rnn_step_backward, rnn_step_forward, sigmoid,
                               temporal_affine_backward, temporal_affine_forward,
                               affine_forward, affine_backward,
                               temporal_softmax_loss, word_embedding_backward,
                               word_embedding_forward)

from conftest import rel_error

SHAPES = [(1, 1, 1, 1), (1, 4, 3, 2), (3, 1, 4, 5), (2, 5, 3, 4), (4, 3, 6, 3)]  # (N, T, D, H)


def num_grads(f, args, dout):
    """Numerical gradient of sum(f(*args) * dout) with respect to each arg."""
    grads = []
    for i, a in enumerate(args):
        def fi(v, i=i):
            return f(*[v if j == i else b for j, b in enumerate(args)])
        grads.append(eval_numerical_gradient_array(fi, a, dout))
    return grads


# ---------------------------------------------------------------- vanilla RNN
def test_rnn_step_forward_expected():
    N, D, H = 3, 10, 4
    x = np.linspace(-0.4, 0.7, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.2, 0.5, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.1, 0.9, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.3, 0.7, num=H * H).reshape(H, H)
    b = np.linspace(-0.2, 0.4, num=H)
    next_h, _ = rnn_step_forward(x, prev_h, Wx, Wh, b)
    expected = np.asarray([
        [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
        [0.66854692, 0.79562378, 0.87755553, 0.92795967],
        [0.97934501, 0.99144213, 0.99646691, 0.99854353]])
    assert rel_error(expected, next_h) < 1e-8


def test_rnn_forward_expected():
    N, T, D, H = 2, 3, 4, 5
    x = np.linspace(-0.1, 0.3, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.3, 0.1, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.4, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.4, 0.1, num=H * H).reshape(H, H)
    b = np.linspace(-0.7, 0.1, num=H)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    expected = np.asarray([
        [[-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
         [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
         [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525]],
        [[-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
         [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
         [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043]]])
    assert h.shape == (N, T, H)
    assert rel_error(expected, h) < 1e-7


@pytest.mark.parametrize('seed', [231, 0])
@pytest.mark.parametrize('N,D,H', [(4, 5, 6), (1, 1, 1), (1, 3, 2)])
def test_rnn_step_backward_gradcheck(seed, N, D, H):
    rng = np.random.default_rng(seed)
    x, h, Wx, Wh, b = (rng.standard_normal(s) for s in [(N, D), (N, H), (D, H), (H, H), (H,)])
    out, cache = rnn_step_forward(x, h, Wx, Wh, b)
    dout = rng.standard_normal(out.shape)
    analytic = rnn_step_backward(dout, cache)
    numeric = num_grads(lambda *a: rnn_step_forward(*a)[0], [x, h, Wx, Wh, b], dout)
    for name, a, n in zip(['dx', 'dprev_h', 'dWx', 'dWh', 'db'], analytic, numeric):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < 1e-7, name


@pytest.mark.parametrize('N,T,D,H', SHAPES)
def test_rnn_backward_gradcheck(N, T, D, H):
    rng = np.random.default_rng(N * 100 + T)
    x, h0, Wx, Wh, b = (rng.standard_normal(s) for s in [(N, T, D), (N, H), (D, H), (H, H), (H,)])
    out, cache = rnn_forward(x, h0, Wx, Wh, b)
    dout = rng.standard_normal(out.shape)
    analytic = rnn_backward(dout, cache)
    numeric = num_grads(lambda *a: rnn_forward(*a)[0], [x, h0, Wx, Wh, b], dout)
    for name, a, n in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], analytic, numeric):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < 1e-6, name


def test_rnn_keeps_float32():
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4), (2, 5), (4, 5), (5, 5), (5,)]]
    for fwd, bwd, m in [(rnn_forward, rnn_backward, 1), (lstm_forward, lstm_backward, 4)]:
        a = list(args)
        a[2] = rng.standard_normal((4, 5 * m)).astype(np.float32)
        a[3] = rng.standard_normal((5, 5 * m)).astype(np.float32)
        a[4] = rng.standard_normal(5 * m).astype(np.float32)
        h, cache = fwd(*a)
        assert h.dtype == np.float32
        grads = bwd(np.ones_like(h), cache)
        assert all(g.dtype == np.float32 for g in grads)


# ------------------------------------------------------------ word embedding
def test_word_embedding_forward_expected():
    N, T, V, D = 2, 4, 5, 3
    x = np.asarray([[0, 3, 1, 2], [2, 1, 0, 3]])
    W = np.linspace(0, 1, num=V * D).reshape(V, D)
    out, _ = word_embedding_forward(x, W)
    # The expected values are printed to 8 decimals, so a correct lookup lies
    # within half a unit of the 8th decimal of each (its rel_error is 1.00e-8).
    expected = np.asarray([
        [[0., 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429],
         [0.21428571, 0.28571429, 0.35714286], [0.42857143, 0.5, 0.57142857]],
        [[0.42857143, 0.5, 0.57142857], [0.21428571, 0.28571429, 0.35714286],
         [0., 0.07142857, 0.14285714], [0.64285714, 0.71428571, 0.78571429]]])
    assert out.shape == (N, T, D)
    assert np.abs(expected - out).max() <= 5e-9


@pytest.mark.parametrize('N,T,V,D', [(50, 3, 5, 6), (1, 1, 3, 2), (4, 7, 2, 3)])
def test_word_embedding_backward_gradcheck(N, T, V, D):
    rng = np.random.default_rng(231)
    x = rng.integers(V, size=(N, T))
    W = rng.standard_normal((V, D))
    out, cache = word_embedding_forward(x, W)
    dout = rng.standard_normal(out.shape)
    dW = word_embedding_backward(dout, cache)
    dW_num = eval_numerical_gradient_array(lambda W_: word_embedding_forward(x, W_)[0], W, dout)
    assert rel_error(dW, dW_num) < 1e-10
    # repeated words add up: compare with an explicit loop
    ref = np.zeros_like(W)
    for n in range(N):
        for t in range(T):
            ref[x[n, t]] += dout[n, t]
    assert np.allclose(dW, ref)


# ------------------------------------------------------------ temporal layers
def test_temporal_affine_gradcheck_assignment_inputs():
    np.random.seed(231)
    N, T, D, M = 2, 3, 4, 5
    x, w, b = np.random.randn(N, T, D), np.random.randn(D, M), np.random.randn(M)
    out, cache = temporal_affine_forward(x, w, b)
    dout = np.random.randn(*out.shape)
    analytic = temporal_affine_backward(dout, cache)
    numeric = num_grads(lambda *a: temporal_affine_forward(*a)[0], [x, w, b], dout)
    for a, n in zip(analytic, numeric):
        assert rel_error(a, n) < 1e-9


@pytest.mark.parametrize('N,T,D,M', [(2, 3, 4, 5), (1, 1, 1, 1), (3, 2, 5, 1)])
def test_temporal_affine_gradcheck(N, T, D, M):
    # Centred differences with h=1e-5 carry about 1e-10 absolute error, so on
    # random inputs with entries near zero the relative error can pass 1e-9.
    rng = np.random.default_rng(231)
    x, w, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    out, cache = temporal_affine_forward(x, w, b)
    assert np.allclose(out, np.einsum('ntd,dm->ntm', x, w) + b)
    dout = rng.standard_normal(out.shape)
    analytic = temporal_affine_backward(dout, cache)
    numeric = num_grads(lambda *a: temporal_affine_forward(*a)[0], [x, w, b], dout)
    for a, n in zip(analytic, numeric):
        assert rel_error(a, n) < 1e-8


@pytest.mark.parametrize('shape,M', [((2, 4), 3), ((3, 2, 3), 5), ((1, 1), 1)])
def test_affine_gradcheck(shape, M):
    rng = np.random.default_rng(7)
    D = int(np.prod(shape[1:]))
    x, w, b = rng.standard_normal(shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    out, cache = affine_forward(x, w, b)
    assert np.allclose(out, x.reshape(shape[0], D) @ w + b)
    dout = rng.standard_normal(out.shape)
    analytic = affine_backward(dout, cache)
    assert [a.shape for a in analytic] == [x.shape, w.shape, b.shape]
    numeric = num_grads(lambda *a: affine_forward(*a)[0], [x, w, b], dout)
    for a, n in zip(analytic, numeric):
        assert np.max(np.abs(a - n)) < 1e-8


def test_affine_forward_names_the_shapes_it_expected():
    with pytest.raises(ValueError, match=r'D = d_1 \* ... \* d_k.*got x \(2, 3\), w \(4, 5\)'):
        affine_forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5))


def test_temporal_softmax_loss_values():
    rng = np.random.RandomState(231)

    def loss_for(N, T, V, p):
        x = 0.001 * rng.randn(N, T, V)
        y = rng.randint(V, size=(N, T))
        mask = rng.rand(N, T) <= p
        return temporal_softmax_loss(x, y, mask)[0]

    # near-uniform scores: log(10) per unmasked step, summed over T, over N
    assert abs(loss_for(100, 1, 10, 1.0) - np.log(10)) < 0.01        # about 2.3
    assert abs(loss_for(100, 10, 10, 1.0) - 10 * np.log(10)) < 0.05  # about 23
    assert abs(loss_for(5000, 10, 10, 0.1) - np.log(10)) < 0.1      # about 2.3


@pytest.mark.parametrize('N,T,V,p', [(7, 8, 9, 0.5), (1, 1, 3, 1.0), (3, 4, 5, 0.0)])
def test_temporal_softmax_loss_gradcheck(N, T, V, p):
    rng = np.random.default_rng(N + T)
    x = rng.standard_normal((N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = rng.random((N, T)) < p
    loss, dx = temporal_softmax_loss(x, y, mask)
    dx_num = eval_numerical_gradient(lambda x_: temporal_softmax_loss(x_, y, mask)[0], x, verbose=False)
    assert rel_error(dx, dx_num) < 1e-7
    if not mask.any():
        assert loss == 0 and not np.signbit(loss) and not dx.any()   # 0.0, not -0.0
    # reference: explicit per-position cross-entropy
    ref = 0.0
    for n in range(N):
        for t in range(T):
            if mask[n, t]:
                s = x[n, t] - x[n, t].max()
                ref -= s[y[n, t]] - np.log(np.exp(s).sum())
    assert abs(loss - ref / N) < 1e-10


def test_temporal_softmax_loss_large_scores_finite():
    x = np.array([[[1000.0, -1000.0, 0.0]]], dtype=np.float32)
    loss, dx = temporal_softmax_loss(x, np.array([[1]]), np.array([[True]]))
    assert np.isfinite(loss) and abs(loss - 2000) < 1e-3
    assert np.all(np.isfinite(dx))


@pytest.mark.parametrize('dtype', [np.float64, np.float32])
def test_model_softmax_in_place_matches_temporal_softmax_loss(dtype):
    """The model's in-place softmax over scored rows is temporal_softmax_loss
    with every row counting, times a scale, and overwrites its input."""
    from cs231n import rnn_fast
    rng = np.random.default_rng(3)
    M, V = 9, 7
    x = (rng.standard_normal((M, V)) * 5).astype(dtype)
    x[2, 3] = 500.0                                  # large scores stay finite
    y = rng.integers(0, V, M)
    y[2] = 0
    want_loss, want_dx = temporal_softmax_loss(x[None], y[None], np.ones((1, M), dtype=bool))
    scores = x.copy()
    loss, dx = rnn_fast._softmax_loss_rows(scores, y, 0.25)
    assert dx is scores and dx.dtype == dtype
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert abs(loss - 0.25 * want_loss) <= tol * abs(want_loss)
    assert np.abs(dx - 0.25 * want_dx[0]).max() <= tol


# ------------------------------------------------------------ LSTM
def test_sigmoid_stable():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over='raise'):
        s = sigmoid(x)
    assert np.allclose(s, [0, 1 / (1 + np.exp(30)), 0.5, 1 / (1 + np.exp(-30)), 1])
    assert sigmoid(np.float32(2.0)).dtype == np.float32


def test_lstm_step_forward_expected():
    N, D, H = 3, 4, 5
    x = np.linspace(-0.4, 1.2, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.3, 0.7, num=N * H).reshape(N, H)
    prev_c = np.linspace(-0.4, 0.9, num=N * H).reshape(N, H)
    Wx = np.linspace(-2.1, 1.3, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.7, 2.2, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.3, 0.7, num=4 * H)
    next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    expected_h = np.asarray([
        [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
        [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
        [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]])
    expected_c = np.asarray([
        [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
        [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
        [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676]])
    assert rel_error(expected_h, next_h) < 1e-8
    assert rel_error(expected_c, next_c) < 1e-8


@pytest.mark.parametrize('N,D,H', [(4, 5, 6), (1, 1, 1), (2, 3, 2)])
def test_lstm_step_backward_gradcheck(N, D, H):
    rng = np.random.default_rng(231 + N)
    args = [rng.standard_normal(s) for s in [(N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    next_h, next_c, cache = lstm_step_forward(*args)
    dnext_h, dnext_c = rng.standard_normal(next_h.shape), rng.standard_normal(next_c.shape)
    analytic = lstm_step_backward(dnext_h, dnext_c, cache)

    def f(*a):  # both outputs, weighted by their upstream gradients
        h, c, _ = lstm_step_forward(*a)
        return np.concatenate([h, c], axis=1)
    numeric = num_grads(f, args, np.concatenate([dnext_h, dnext_c], axis=1))
    for name, a, n in zip(['dx', 'dprev_h', 'dprev_c', 'dWx', 'dWh', 'db'], analytic, numeric):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < 1e-6, name


def test_lstm_forward_expected():
    N, D, H, T = 2, 5, 4, 3
    x = np.linspace(-0.4, 0.6, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.4, 0.8, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.9, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.3, 0.6, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.2, 0.7, num=4 * H)
    h, _ = lstm_forward(x, h0, Wx, Wh, b)
    expected = np.asarray([
        [[0.01764008, 0.01823233, 0.01882671, 0.0194232],
         [0.11287491, 0.12146228, 0.13018446, 0.13902939],
         [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
        [[0.45767879, 0.4761092, 0.4936887, 0.51041945],
         [0.6704845, 0.69350089, 0.71486014, 0.7346449],
         [0.81733511, 0.83677871, 0.85403753, 0.86935314]]])
    assert rel_error(expected, h) < 1e-7


@pytest.mark.parametrize('N,T,D,H', SHAPES)
def test_lstm_backward_gradcheck(N, T, D, H):
    rng = np.random.default_rng(N * 10 + T + 7)
    args = [rng.standard_normal(s) for s in [(N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    out, cache = lstm_forward(*args)
    dout = rng.standard_normal(out.shape)
    analytic = lstm_backward(dout, cache)
    numeric = num_grads(lambda *a: lstm_forward(*a)[0], args, dout)
    for name, a, n in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], analytic, numeric):
        assert a.shape == n.shape, name
        assert rel_error(a, n) < 1e-6, name

