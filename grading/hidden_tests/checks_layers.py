"""Hidden checks of the layers (instructor-only): shapes and seeds other than
the notebooks', edge sizes (one example, one step, one unit), each compared
with the reference implementation."""
import numpy as np

from harness import call, close, numeric_close, rng_arrays

# (seed, sizes): small and odd sizes, and the N = 1 / T = 1 / H = 1 edges
STEP_CASES = [(11, (1, 3, 2)), (12, (5, 4, 7)), (13, (3, 1, 1)), (14, (8, 6, 3))]        # N, D, H
SEQ_CASES = [(21, (1, 1, 2, 3)), (22, (3, 6, 4, 5)), (23, (2, 9, 1, 7)), (24, (4, 2, 3, 1))]  # N, T, D, H

RNN_GRADS = ('dx', 'dprev_h', 'dWx', 'dWh', 'db')
SEQ_GRADS = ('dx', 'dh0', 'dWx', 'dWh', 'db')
LSTM_STEP_GRADS = ('dx', 'dprev_h', 'dprev_c', 'dWx', 'dWh', 'db')


def _where(seed, names, sizes):
    return 'case %s, seed %d' % (', '.join('%s=%d' % nv for nv in zip(names, sizes)), seed)


# ---------------------------------------------------------------- vanilla RNN

def rnn_step_forward_cases(ctx):
    for seed, (N, D, H) in STEP_CASES:
        x, h, Wx, Wh, b = rng_arrays(seed, (N, D), (N, H), (D, H), (H, H), (H,))
        got = call(ctx.layers.rnn_step_forward, 'rnn_step_forward', ('next_h', 'cache'), x, h, Wx, Wh, b)
        want = ctx.ref.rnn_step_forward(x, h, Wx, Wh, b)
        close('rnn_step_forward next_h', got[0], want[0], 1e-9, _where(seed, 'NDH', (N, D, H)))


def rnn_step_backward_cases(ctx):
    for seed, (N, D, H) in STEP_CASES:
        x, h, Wx, Wh, b, dnext = rng_arrays(seed, (N, D), (N, H), (D, H), (H, H), (H,), (N, H))
        _, cache = call(ctx.layers.rnn_step_forward, 'rnn_step_forward', ('next_h', 'cache'), x, h, Wx, Wh, b)
        got = call(ctx.layers.rnn_step_backward, 'rnn_step_backward', RNN_GRADS, dnext, cache)
        want = ctx.ref.rnn_step_backward(dnext, ctx.ref.rnn_step_forward(x, h, Wx, Wh, b)[1])
        for name, g, w in zip(RNN_GRADS, got, want):
            close('rnn_step_backward ' + name, g, w, 1e-9, _where(seed, 'NDH', (N, D, H)))


def _sequence_inputs(seed, N, T, D, H, gates, with_dh=False):
    G = gates * H
    shapes = [(N, T, D), (N, H), (D, G), (H, G), (G,)] + ([(N, T, H)] if with_dh else [])
    return rng_arrays(seed, *shapes, scale=0.7)


def _sequence_forward(ctx, cell, gates):
    """Student's <cell>_forward against the reference on SEQ_CASES."""
    name = cell + '_forward'
    for seed, (N, T, D, H) in SEQ_CASES:
        args = _sequence_inputs(seed, N, T, D, H, gates)
        got = call(getattr(ctx.layers, name), name, ('h', 'cache'), *args)
        want = getattr(ctx.ref, name)(*args)
        close(name + ' h', got[0], want[0], 1e-9, _where(seed, 'NTDH', (N, T, D, H)))


def _sequence_backward(ctx, cell, gates):
    """Student's <cell>_backward (on the student's own cache) against the
    reference, then a numerical gradient check."""
    fwd, bwd = cell + '_forward', cell + '_backward'
    for seed, (N, T, D, H) in SEQ_CASES:
        *args, dh = _sequence_inputs(seed, N, T, D, H, gates, with_dh=True)
        _, cache = call(getattr(ctx.layers, fwd), fwd, ('h', 'cache'), *args)
        got = call(getattr(ctx.layers, bwd), bwd, SEQ_GRADS, dh, cache)
        want = getattr(ctx.ref, bwd)(dh, getattr(ctx.ref, fwd)(*args)[1])
        for name, g, w in zip(SEQ_GRADS, got, want):
            close(bwd + ' ' + name, g, w, 1e-8, _where(seed, 'NTDH', (N, T, D, H)))
    _numeric_sequence(ctx, cell, gates)


def rnn_forward_cases(ctx):
    _sequence_forward(ctx, 'rnn', 1)


def rnn_backward_cases(ctx):
    _sequence_backward(ctx, 'rnn', 1)


def _numeric_sequence(ctx, cell, gates):
    """The student's backward pass against the numerical gradient of the
    student's forward pass, on one more small case."""
    seed, (N, T, D, H) = 29, (2, 4, 3, 3)
    x, h0, Wx, Wh, b, dh = _sequence_inputs(seed, N, T, D, H, gates, with_dh=True)
    forward, backward = getattr(ctx.layers, cell + '_forward'), getattr(ctx.layers, cell + '_backward')
    _, cache = call(forward, cell + '_forward', ('h', 'cache'), x, h0, Wx, Wh, b)
    grads = call(backward, cell + '_backward', SEQ_GRADS, dh, cache)
    where = _where(seed, 'NTDH', (N, T, D, H))
    inputs = [x, h0, Wx, Wh, b]
    for k, name in enumerate(SEQ_GRADS):
        def f(v, k=k):
            args = [a.copy() for a in inputs]
            args[k] = v
            return forward(*args)[0]
        numeric_close(ctx, '%s_backward %s' % (cell, name), f, inputs[k].copy(), dh, grads[k], 1e-6, where)


# ------------------------------------------------------------- word embedding

EMBED_CASES = [(31, (1, 1, 4, 3)), (32, (6, 5, 3, 2)), (33, (20, 7, 9, 5))]   # N, T, V, D


def word_embedding_forward_cases(ctx):
    for seed, (N, T, V, D) in EMBED_CASES:
        rng = np.random.RandomState(seed)
        x = rng.randint(V, size=(N, T))
        W = rng.randn(V, D)
        got = call(ctx.layers.word_embedding_forward, 'word_embedding_forward', ('out', 'cache'), x, W)
        close('word_embedding_forward out', got[0], W[x], 1e-15, _where(seed, 'NTVD', (N, T, V, D)))


def word_embedding_backward_cases(ctx):
    # many repeated words (V small against N * T), and words that never occur
    for seed, (N, T, V, D) in EMBED_CASES + [(34, (30, 4, 3, 2)), (35, (2, 2, 50, 3))]:
        rng = np.random.RandomState(seed)
        x = rng.randint(V, size=(N, T))
        W = rng.randn(V, D)
        dout = rng.randn(N, T, D)
        _, cache = call(ctx.layers.word_embedding_forward, 'word_embedding_forward', ('out', 'cache'), x, W)
        dW = call(ctx.layers.word_embedding_backward, 'word_embedding_backward', ('dW',), dout, cache)
        want = ctx.ref.word_embedding_backward(dout, ctx.ref.word_embedding_forward(x, W)[1])
        close('word_embedding_backward dW', dW, want, 1e-12, _where(seed, 'NTVD', (N, T, V, D)))


# ----------------------------------------------------------------------- LSTM

def _lstm_step_inputs(seed, N, D, H):
    return rng_arrays(seed, (N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,), (N, H), (N, H))


def lstm_step_forward_cases(ctx):
    for seed, (N, D, H) in STEP_CASES:
        x, h, c, Wx, Wh, b, _, _ = _lstm_step_inputs(seed, N, D, H)
        b[H:2 * H] += 2.0   # a forget gate near 1 and the others not: the order i, f, o, g matters
        got = call(ctx.layers.lstm_step_forward, 'lstm_step_forward', ('next_h', 'next_c', 'cache'),
                   x, h, c, Wx, Wh, b)
        want = ctx.ref.lstm_step_forward(x, h, c, Wx, Wh, b)
        where = _where(seed, 'NDH', (N, D, H))
        close('lstm_step_forward next_h', got[0], want[0], 1e-9, where)
        close('lstm_step_forward next_c', got[1], want[1], 1e-9, where)
    # large activations: the sigmoid must not overflow into NaN
    x, h, c, Wx, Wh, b, _, _ = _lstm_step_inputs(19, 3, 4, 5)
    b *= 400.0
    got = call(ctx.layers.lstm_step_forward, 'lstm_step_forward', ('next_h', 'next_c', 'cache'),
               x, h, c, Wx, Wh, b)
    want = ctx.ref.lstm_step_forward(x, h, c, Wx, Wh, b)
    close('lstm_step_forward next_h', got[0], want[0], 1e-9, 'activations of about +-1000, seed 19')


def lstm_step_backward_cases(ctx):
    for seed, (N, D, H) in STEP_CASES:
        x, h, c, Wx, Wh, b, dnh, dnc = _lstm_step_inputs(seed, N, D, H)
        _, _, cache = call(ctx.layers.lstm_step_forward, 'lstm_step_forward',
                           ('next_h', 'next_c', 'cache'), x, h, c, Wx, Wh, b)
        got = call(ctx.layers.lstm_step_backward, 'lstm_step_backward', LSTM_STEP_GRADS, dnh, dnc, cache)
        want = ctx.ref.lstm_step_backward(dnh, dnc, ctx.ref.lstm_step_forward(x, h, c, Wx, Wh, b)[2])
        for name, g, w in zip(LSTM_STEP_GRADS, got, want):
            close('lstm_step_backward ' + name, g, w, 1e-9, _where(seed, 'NDH', (N, D, H)))


def lstm_forward_cases(ctx):
    _sequence_forward(ctx, 'lstm', 4)


def lstm_backward_cases(ctx):
    _sequence_backward(ctx, 'lstm', 4)
