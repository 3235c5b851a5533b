"""The sequence layers' fast passes (cs231n/rnn_fast.py behind rnn_forward,
lstm_forward and their backward passes, and CaptioningRNN.loss): against the
plain step-by-step math, with captions that end early, forward passes told
which samples to compute, mixed dtypes, and the input projection done once per
distinct word."""
import sys

import numpy as np
import pytest

from cs231n.rnn_layers import (lstm_backward, lstm_forward, lstm_step_forward, rnn_backward,
                               rnn_forward, temporal_affine_backward, temporal_affine_forward,
                               temporal_softmax_loss, word_embedding_backward,
                               word_embedding_forward)

from conftest import REPO

sys.path.insert(0, str(REPO / 'grading'))
import plain_reference as plain  # noqa: E402  the plain step-by-step solution
from cs231n import rnn_fast as fast  # noqa: E402


# --------------------------------------- sequences whose captions have ended
def step_by_step_backward(cell, x, h0, Wx, Wh, b, dh):
    """Gradients of sum(h * dh) from the plain step functions: the reference."""
    fwd, bwd = (plain.rnn_forward, plain.rnn_backward) if cell == 'rnn' else (plain.lstm_forward, plain.lstm_backward)
    return list(bwd(dh, fwd(x, h0, Wx, Wh, b)[1]))


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
@pytest.mark.parametrize('N,T,D,H', [(1, 1, 1, 1), (3, 1, 4, 5), (3, 7, 4, 5), (4, 3, 6, 3)])
def test_sequence_layers_match_step_by_step(cell, N, T, D, H):
    """The fast sequence code computes the plain per-step recurrence
    (grading/plain_reference.py, built on the step functions) and leaves dh alone."""
    rng = np.random.default_rng(N * 100 + T * 10 + D)
    m = 4 if cell == 'lstm' else 1
    x, h0, Wx, Wh, b = (rng.standard_normal(s) for s in [(N, T, D), (N, H), (D, m * H), (H, m * H), (m * H,)])
    fwd, bwd = (rnn_forward, rnn_backward) if cell == 'rnn' else (lstm_forward, lstm_backward)
    plain_fwd = plain.rnn_forward if cell == 'rnn' else plain.lstm_forward
    h, cache = fwd(x, h0, Wx, Wh, b)
    h_plain, _ = plain_fwd(x, h0, Wx, Wh, b)
    assert h.shape == h_plain.shape and np.abs(h - h_plain).max() <= 1e-12
    dh = rng.standard_normal(h.shape)
    dh_copy = dh.copy()
    got = bwd(dh, cache)
    assert np.array_equal(dh, dh_copy), f'{cell}_backward must not modify its input dh'
    want = step_by_step_backward(cell, x, h0, Wx, Wh, b, dh)
    for name, g, w in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], got, want):
        assert g.shape == w.shape, name
        assert np.abs(g - w).max() <= 1e-12 * max(np.abs(w).max(), 1.0), name


@pytest.mark.parametrize('way', ['exp', 'tanh'])
@pytest.mark.parametrize('dtype,tol', [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_lstm_forward_saturated_gates(dtype, tol, way, monkeypatch):
    """Pre-activations far beyond where exp overflows (+-1e4): the gates reach
    exactly 0, 1 or -1, with no warning, as in the step function, whichever
    way the gate activations are computed."""
    monkeypatch.setitem(fast._FAST_TANH, np.dtype(dtype), way == 'tanh')
    rng = np.random.default_rng(7)
    N, T, D, H = 3, 4, 5, 6
    x = (rng.standard_normal((N, T, D)) * 1e3).astype(dtype)
    x[0, 0] = 0                                          # and some gates near 0.5 / 0
    h0 = rng.standard_normal((N, H)).astype(dtype)
    Wx, Wh = (rng.standard_normal(s).astype(dtype) * 10 for s in [(D, 4 * H), (H, 4 * H)])
    b = rng.standard_normal(4 * H).astype(dtype)
    with np.errstate(over='raise', invalid='raise', divide='raise'):
        h, _ = lstm_forward(x, h0, Wx, Wh, b)
    want, _ = plain.lstm_forward(x.astype(np.float64), h0.astype(np.float64), Wx.astype(np.float64),
                                 Wh.astype(np.float64), b.astype(np.float64))
    assert h.dtype == dtype and np.isfinite(h).all()
    assert np.abs(h - want).max() <= tol, np.abs(h - want).max()
    # saturated gates were reached: i = o = 1, g = +-1 and f = 0 give |h| = tanh(1); o = 0 gives 0
    assert np.isclose(np.abs(h), np.tanh(1), rtol=0, atol=tol).any() and (h == 0).any()


@pytest.mark.parametrize('way', ['exp', 'tanh'])
@pytest.mark.parametrize('dtype,ulps', [(np.float32, 2.5), (np.float64, 2.5)])
def test_gate_activations_both_ways(dtype, ulps, way, monkeypatch):
    """sigmoid for i, f, o and tanh for g, against float64 (float32) or
    exact-formula (float64) references, from tiny to saturated inputs: within
    a few roundings of 1 either way the package may pick."""
    monkeypatch.setitem(fast._FAST_TANH, np.dtype(dtype), way == 'tanh')
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.standard_normal(3000) * 4, np.linspace(-60, 60, 1001),
                        [0.0, 1e-8, -1e-8, 100.0, -100.0, 1e4, -1e4]])
    a = np.broadcast_to(a, (4, 2, a.size)).astype(dtype)
    with np.errstate(all='raise'):
        got = fast._gate_activations(a.copy())
    a64 = a.astype(np.float64)
    want = np.concatenate([0.5 + 0.5 * np.tanh(a64[:3] / 2), np.tanh(a64[3:])])
    assert got.dtype == dtype
    err = np.abs(got - want).max()
    assert err <= ulps * np.finfo(dtype).eps, f'{way}: largest error {err:.2e}'
    assert (got[:3] >= 0).all() and (got[:3] <= 1).all() and (np.abs(got[3]) <= 1).all()


def test_tanh_way_is_only_picked_for_float32():
    assert fast._tanh_is_fast(np.float64) is False
    assert fast._tanh_is_fast(np.float32) in (True, False)


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
@pytest.mark.parametrize('pattern', ['sorted', 'unsorted', 'holes', 'all ended', 'one sample'])
def test_sequence_backward_with_ended_captions(cell, pattern):
    """Upstream gradients that are zero after a caption's end (as the masked
    loss gives) let the backward pass skip those samples; the gradients must
    still be those of the plain step-by-step computation."""
    rng = np.random.default_rng(len(pattern) + len(cell))
    N, T, D, H = (1, 5, 3, 4) if pattern == 'one sample' else (6, 7, 3, 4)
    m = 4 if cell == 'lstm' else 1
    x, h0, Wx, Wh, b = (rng.standard_normal(s) for s in
                        [(N, T, D), (N, H), (D, m * H), (H, m * H), (m * H,)])
    lengths = {'sorted': [7, 7, 5, 3, 3, 1], 'unsorted': [2, 7, 0, 5, 1, 3],
               'holes': [6, 4, 7, 2, 2, 5], 'all ended': [0] * 6, 'one sample': [3]}[pattern]
    dh = rng.standard_normal((N, T, H)) * (np.arange(T) < np.array(lengths)[:, None])[:, :, None]
    if pattern == 'holes':
        dh[0, 2] = 0       # a zero step inside a caption
        dh[2, 3, 1:] = 0   # a partly zero row
    fwd, bwd = (rnn_forward, rnn_backward) if cell == 'rnn' else (lstm_forward, lstm_backward)
    _, cache = fwd(x, h0, Wx, Wh, b)
    got = bwd(dh, cache)
    want = step_by_step_backward(cell, x, h0, Wx, Wh, b, dh)
    for name, g, w in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], got, want):
        assert g.shape == w.shape, name
        assert np.abs(g - w).max() <= 1e-12 * max(np.abs(w).max(), 1.0), name
    if pattern == 'all ended':
        assert all(not g.any() for g in got)


# ------------------------------- forward passes told which samples to compute
@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
@pytest.mark.parametrize('lengths', [[7, 7, 5, 3, 3, 1], [7] * 6, [4, 2, 0, 0, 0, 0], [0] * 6])
def test_forward_with_widths_computes_the_live_samples(cell, lengths):
    """The reference forward passes take the number of samples still running
    at each step (the model's captions, longest first). The live hidden states
    must be those of the full forward pass, the others zero, and the backward
    pass from that cache must give the step-by-step gradients."""
    from cs231n import rnn_fast
    rng = np.random.default_rng(sum(lengths) + len(cell))
    N, T, D, H = 6, 7, 3, 4
    m = 4 if cell == 'lstm' else 1
    x, h0, Wx, Wh, b = (rng.standard_normal(s) for s in
                        [(N, T, D), (N, H), (D, m * H), (H, m * H), (m * H,)])
    live = np.arange(T) < np.array(lengths)[:, None]                  # (N, T)
    width = live.sum(axis=0)
    fwd, bwd = {'rnn': (rnn_fast._rnn_forward, rnn_backward),
                'lstm': (rnn_fast._lstm_forward, lstm_backward)}[cell]
    full, _ = (rnn_forward if cell == 'rnn' else lstm_forward)(x, h0, Wx, Wh, b)
    h, cache = fwd(x, h0, Wx, Wh, b, width)
    assert h.shape == (N, T, H)
    assert np.abs(h[live] - full[live]).max(initial=0) <= 1e-13
    assert not h[~live].any()
    # dh on every live row, then on fewer (the backward pass then narrows the
    # forward's rows further)
    for shorter in (0, 2):
        live_dh = np.arange(T) < np.maximum(np.array(lengths) - shorter, 0)[:, None]
        dh = rng.standard_normal((N, T, H)) * live_dh[:, :, None]
        got = bwd(dh, cache)
        want = step_by_step_backward(cell, x, h0, Wx, Wh, b, dh)
        for name, g, w in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], got, want):
            assert g.shape == w.shape, name
            assert np.abs(g - w).max() <= 1e-12 * max(np.abs(w).max(), 1.0), name


def sequence_case(cell, seed, N=3, T=4, D=5, H=6):
    """(fwd, bwd, (x, h0, Wx, Wh, b), dh): a float64 sequence case."""
    rng = np.random.default_rng(seed)
    m = 4 if cell == 'lstm' else 1
    args = tuple(rng.standard_normal(s) for s in [(N, T, D), (N, H), (D, m * H), (H, m * H), (m * H,)])
    fwd, bwd = (rnn_forward, rnn_backward) if cell == 'rnn' else (lstm_forward, lstm_backward)
    return fwd, bwd, args, rng.standard_normal((N, T, H))


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
def test_float32_cache_with_float64_upstream_gradient(cell):
    """A float32 forward pass followed by a float64 dh (np.random.randn, as in
    a notebook) gives float32 gradients, close to the float64 ones, and
    leaves dh alone."""
    fwd, bwd, args, dh = sequence_case(cell, 11)
    dh_before = dh.copy()
    _, cache64 = fwd(*args)
    want = bwd(dh, cache64)
    _, cache32 = fwd(*(a.astype(np.float32) for a in args))
    got = bwd(dh, cache32)
    assert np.array_equal(dh, dh_before)
    for name, g, w in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], got, want):
        assert g.dtype == np.float32, name
        assert np.abs(g - w).max() <= 1e-5 * np.abs(w).max(), name   # float32 rounding


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
@pytest.mark.parametrize('N, T', [(3, 4), (1, 4), (3, 1), (1, 1)])
def test_changing_h_in_place_leaves_the_backward_pass_alone(cell, N, T):
    """h is the caller's own array: h *= mask or h[...] = 0 after the forward
    pass must not change the gradients the backward pass computes (also when
    N or T is 1, where a transposed view would already be contiguous)."""
    fwd, bwd, args, dh = sequence_case(cell, 12, N=N, T=T)
    h, cache = fwd(*args)
    assert not any(np.shares_memory(h, c) for c in cache if isinstance(c, np.ndarray))
    want = bwd(dh, cache)
    h_before = h.copy()
    h, cache = fwd(*args)
    assert np.array_equal(h, h_before)
    h[...] = 7.0
    got = bwd(dh, cache)
    for name, g, w in zip(['dx', 'dh0', 'dWx', 'dWh', 'db'], got, want):
        assert np.array_equal(g, w), name


@pytest.mark.parametrize('cell', ['rnn', 'lstm'])
def test_forward_widths_are_checked(cell):
    from cs231n import rnn_fast
    rng = np.random.default_rng(5)
    N, T, D, H = 3, 4, 2, 3
    m = 4 if cell == 'lstm' else 1
    x, h0, Wx, Wh, b = (rng.standard_normal(s) for s in
                        [(N, T, D), (N, H), (D, m * H), (H, m * H), (m * H,)])
    fwd, bwd = {'rnn': (rnn_fast._rnn_forward, rnn_backward),
                'lstm': (rnn_fast._lstm_forward, lstm_backward)}[cell]
    for bad in ([3, 2, 3, 1], [4, 3, 2, 1], [3, 2, 1], [3, 2, 1, -1]):
        with pytest.raises(ValueError, match='width must be a never-increasing'):
            fwd(x, h0, Wx, Wh, b, np.array(bad))
    _, cache = fwd(x, h0, Wx, Wh, b, np.array([3, 2, 2, 1]))
    dh = np.zeros((N, T, H))
    dh[2, 2, 0] = 1.0          # so sample 2 is needed at steps 0-2; the forward skipped it at 1 and 2
    with pytest.raises(ValueError, match='sample 2 at step 1 or later, but the forward pass '
                                         'computed only the first 2 samples at step 1'):
        bwd(dh, cache)


# ------------------------------------------- input projection once per word
def _zipf_words(M, V, seed):
    """M words of a vocabulary of V, a few frequent ones and many rare ones."""
    p = 1.0 / np.arange(1, V + 1)
    return np.random.default_rng(seed).choice(V, size=M, p=p / p.sum()).tolist()


@pytest.mark.parametrize('gates', [1, 4])
@pytest.mark.parametrize('words', [[5, 2, 5, 5, 0, 2, 7, 5, 1, 2], [3], [4, 4, 4, 4], [6, 1, 0, 3], [],
                                   _zipf_words(400, 60, 0), list(range(60)) * 3])
def test_word_projection_matches_embedding_then_affine(gates, words):
    """The model's input projection, computed once per distinct word, equals
    word_embedding_forward then x Wx + b, and its backward pass equals
    temporal_affine_backward then word_embedding_backward, repeated words
    included (float64, to rounding). The larger cases have more than 16
    words occurring several times, so the sums run both ways (slices, then
    the 0/1 product for the most frequent words)."""
    from cs231n import rnn_fast
    rng = np.random.default_rng(len(words) + gates)
    V, W, H = 60, 3, 2
    G = gates * H
    words = np.array(words, dtype=np.int64)
    M = len(words)
    W_embed, Wx, b = rng.standard_normal((V, W)), rng.standard_normal((W, G)), rng.standard_normal(G)
    dproj = rng.standard_normal((M, G))
    x, emb_cache = word_embedding_forward(words[None], W_embed)               # (1, M, W)
    want, aff_cache = temporal_affine_forward(x, Wx, b)                       # (1, M, G)
    dx, want_dWx, want_db = temporal_affine_backward(dproj[None], aff_cache)
    want_dW_embed = word_embedding_backward(dx, emb_cache)

    proj, cache = rnn_fast._word_projection(words, W_embed, Wx, b, gates=gates)
    if gates == 4:                                   # gate-major: proj[g] is the gate's columns
        assert proj.shape == (4, M, H)
        proj = proj.transpose(1, 0, 2).reshape(M, G)
    assert proj.shape == (M, G)
    assert np.abs(proj - want[0]).max(initial=0) <= 1e-13
    dW_embed, dWx, db = rnn_fast._word_projection_backward(dproj, cache)
    for name, g, w in [('dW_embed', dW_embed, want_dW_embed), ('dWx', dWx, want_dWx), ('db', db, want_db)]:
        assert g.shape == w.shape and g.dtype == w.dtype, name
        assert np.abs(g - w).max(initial=0) <= 1e-13, name


def test_word_projection_keeps_float32():
    from cs231n import rnn_fast
    rng = np.random.default_rng(2)
    W_embed, Wx, b = (rng.standard_normal(s).astype(np.float32) for s in [(6, 3), (3, 8), (8,)])
    words = np.array([1, 1, 4, 0, 1])
    proj, cache = rnn_fast._word_projection(words, W_embed, Wx, b, gates=4)
    assert proj.dtype == np.float32
    grads = rnn_fast._word_projection_backward(rng.standard_normal((5, 8)).astype(np.float32), cache)
    assert [g.dtype for g in grads] == [np.float32] * 3


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('D,H', [(1, 1), (1, 3), (4, 1), (4, 3)])
def test_lstm_leaves_its_inputs_alone(dtype, D, H):
    """The forward pass scales copies of the weights (in float32), never the
    caller's arrays, whatever their shapes; and it matches the step-by-step
    float32 math to float32 rounding."""
    rng = np.random.default_rng(D * 10 + H)
    N, T = 2, 3
    args = [rng.standard_normal(s).astype(dtype) for s in [(N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]]
    before = [a.copy() for a in args]
    h, cache = lstm_forward(*args)
    lstm_backward(rng.standard_normal(h.shape).astype(dtype), cache)
    for name, a, a0 in zip(['x', 'h0', 'Wx', 'Wh', 'b'], args, before):
        assert np.array_equal(a, a0), '%s changed' % name
    x, prev_h, Wx, Wh, b = (a.astype(np.float64) for a in args)
    prev_c = np.zeros((N, H))
    for t in range(T):
        prev_h, prev_c, _ = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        assert np.abs(h[:, t] - prev_h).max() <= (1e-6 if dtype == np.float32 else 1e-13), t


def test_lists_and_bad_masks_are_refused_with_what_to_do():
    x, y = np.random.randn(2, 3, 4), np.zeros((2, 3), dtype=int)
    with pytest.raises(ValueError, match=r'temporal_softmax_loss: y must be a numpy array of shape \(N, T\); '
                                         r'got list \(convert it with np.asarray\)'):
        temporal_softmax_loss(x, y.tolist(), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r'rnn_forward: x must be a numpy array'):
        rnn_forward(x.tolist(), np.zeros((2, 5)), np.zeros((4, 5)), np.zeros((5, 5)), np.zeros(5))
    with pytest.raises(ValueError, match=r'mask must be boolean \(or 0/1\).*got values in \[0, 2\]'):
        temporal_softmax_loss(x, y, np.array([[1, 2, 0], [1, 1, 1]]))
    with pytest.raises(ValueError, match=r'x must be floating point scores with N >= 1; got dtype int64'):
        temporal_softmax_loss(np.zeros((2, 3, 4), dtype=np.int64), y, np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r'N >= 1; got dtype float64, shape \(0, 3, 4\)'):
        temporal_softmax_loss(np.zeros((0, 3, 4)), np.zeros((0, 3), int), np.ones((0, 3), bool))
    # 0/1 integer masks, as the official code allows, still work
    a = temporal_softmax_loss(x, y, np.array([[1, 0, 1], [1, 1, 0]]))[0]
    b = temporal_softmax_loss(x, y, np.array([[True, False, True], [True, True, False]]))[0]
    assert a == b


@pytest.mark.parametrize('dtype,tol', [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize('level', ['small', 'large', 'negative', 'very negative', 'mixed', 'at the bound'])
def test_softmax_loss_rows_with_and_without_the_shift(dtype, tol, level):
    """The in-place softmax loss of CaptioningRNN.loss skips the shift by the
    row maximum only where exp cannot overflow nor the sums underflow: it
    matches the shifted float64 formula at every level of scores."""
    rng = np.random.default_rng(11)
    M, V = 37, 1004
    x = rng.standard_normal((M, V)) * 3
    x += {'large': 1e3, 'negative': -85, 'very negative': -1e3}.get(level, 0)
    if level == 'mixed':
        x[::3] += 500
        x[1::3] -= 500
    if level == 'at the bound':     # largest scores just under where V exps overflow in float32
        x[:, 0] = np.log(np.finfo(np.float32).max / V) - 1.01
    x = x.astype(dtype)
    y = rng.integers(0, V, M)
    x64 = x.astype(np.float64)
    shifted = x64 - x64.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(shifted).sum(axis=1))
    want_loss = (logsum - shifted[np.arange(M), y]).sum() / 7
    want = np.exp(shifted - logsum[:, None]) / 7
    want[np.arange(M), y] -= 1 / 7
    with np.errstate(over='raise', invalid='raise', divide='raise'):
        loss, d = fast._softmax_loss_rows(x.copy(), y, 1 / 7)
    assert d.dtype == dtype and np.isfinite(d).all()
    assert abs(loss - want_loss) <= tol * max(1.0, abs(want_loss)), (loss, want_loss)
    assert np.abs(d - want).max() <= tol, np.abs(d - want).max()
