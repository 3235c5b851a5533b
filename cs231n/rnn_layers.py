"""Layers of a recurrent captioning model: vanilla RNN, LSTM, word embedding,
temporal affine and temporal softmax loss.

Every layer is a pair of pure functions: `*_forward(...) -> (out, cache)` and
`*_backward(dout, cache) -> gradients`. Letters used for shapes:
N minibatch size, T time steps, D input size, H hidden size, V vocabulary size,
M output size of an affine layer.

The single-step functions are written the plain way, one line of math each.
The sequence functions (rnn_forward, lstm_forward and their backward passes)
compute the same thing over T steps. They should keep the dtype of their
inputs (float32 stays float32: allocate with dtype=x.dtype, since np.zeros(shape)
alone makes float64, which is about twice as slow); the checks do not require it.
"""
import numpy as np

from .shapes import check_shapes, check_word_ids


# ----------------------------------------------------------------------------
# Vanilla RNN
# ----------------------------------------------------------------------------

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """One time step of a vanilla RNN with a tanh nonlinearity.

    Inputs:
    - x: Input data for this time step, of shape (N, D)
    - prev_h: Hidden state from the previous time step, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, H)
    - Wh: Hidden-to-hidden weights, of shape (H, H)
    - b: Biases, of shape (H,)

    Returns a tuple of:
    - next_h: Next hidden state, of shape (N, H)
    - cache: Values needed by the backward pass
    """
    check_shapes('rnn_step_forward', cell='rnn', Wx=(Wx, 'D H'), Wh=(Wh, 'H H'), b=(b, 'H'),
                 x=(x, 'N D'), prev_h=(prev_h, 'N H'))
    ### BEGIN SOLUTION
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)  # (N, H)
    cache = (x, prev_h, Wx, Wh, next_h)
    ### END SOLUTION
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    """Backward pass of one vanilla RNN time step.

    Inputs:
    - dnext_h: Gradient of the loss with respect to next_h, of shape (N, H)
    - cache: Cache from rnn_step_forward

    Returns a tuple of:
    - dx: Gradient of the input data, of shape (N, D)
    - dprev_h: Gradient of the previous hidden state, of shape (N, H)
    - dWx: Gradient of the input-to-hidden weights, of shape (D, H)
    - dWh: Gradient of the hidden-to-hidden weights, of shape (H, H)
    - db: Gradient of the biases, of shape (H,)
    """
    ### BEGIN SOLUTION
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h * next_h)  # (N, H): tanh'(a) = 1 - tanh(a)^2
    dx = da @ Wx.T                         # (N, D)
    dprev_h = da @ Wh.T                    # (N, H)
    dWx = x.T @ da                         # (D, H)
    dWh = prev_h.T @ da                    # (H, H)
    db = da.sum(axis=0)                    # (H,)
    ### END SOLUTION
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """A vanilla RNN over a whole sequence of T steps.

    Inputs:
    - x: Input data for the whole sequence, of shape (N, T, D)
    - h0: Initial hidden state, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, H)
    - Wh: Hidden-to-hidden weights, of shape (H, H)
    - b: Biases, of shape (H,)

    Returns a tuple of:
    - h: Hidden states for every time step, of shape (N, T, H)
    - cache: Values needed by the backward pass
    """
    check_shapes('rnn_forward', cell='rnn', Wx=(Wx, 'D H'), Wh=(Wh, 'H H'), b=(b, 'H'),
                 x=(x, 'N T D'), h0=(h0, 'N H'))
    ### BEGIN SOLUTION
    # the fast pass, rnn_fast.py (the plain step-by-step way: grading/plain_reference.py)
    from .rnn_fast import _rnn_forward
    h, cache = _rnn_forward(x, h0, Wx, Wh, b)
    ### END SOLUTION
    return h, cache


def rnn_backward(dh, cache):
    """Backward pass of a vanilla RNN over a whole sequence.

    Inputs:
    - dh: Upstream gradients of all hidden states, of shape (N, T, H)
      (the gradient coming from the loss at each step, not through later steps)
    - cache: Cache from rnn_forward

    Returns a tuple of:
    - dx: Gradient of the inputs, of shape (N, T, D)
    - dh0: Gradient of the initial hidden state, of shape (N, H)
    - dWx: Gradient of the input-to-hidden weights, of shape (D, H)
    - dWh: Gradient of the hidden-to-hidden weights, of shape (H, H)
    - db: Gradient of the biases, of shape (H,)
    """
    ### BEGIN SOLUTION
    from .rnn_fast import _rnn_backward
    dx, dh0, dWx, dWh, db = _rnn_backward(dh, cache)
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# ----------------------------------------------------------------------------
# Word embedding
# ----------------------------------------------------------------------------

def word_embedding_forward(x, W):
    """Look up the vector of every word: word i maps to row i of W.

    Inputs:
    - x: Integer array of shape (N, T) of word indices, each in 0 <= idx < V
      (any shape works: (N,) for one word per sample, as when sampling)
    - W: Word vectors, of shape (V, D)

    Returns a tuple of:
    - out: Word vectors of every input word, of shape (N, T, D) (x.shape + (D,))
    - cache: Values needed by the backward pass
    """
    check_shapes('word_embedding_forward', W=(W, 'V D'))
    if not isinstance(x, np.ndarray):
        raise ValueError('word_embedding_forward: x must be a numpy array of word ids; got %s (convert '
                         'it with np.asarray)' % type(x).__name__)
    check_word_ids('word_embedding_forward', 'x', x, W.shape[0], 'W')
    ### BEGIN SOLUTION
    out = W[x]  # (N, T, D)
    cache = (x, W.shape, W.dtype)
    ### END SOLUTION
    return out, cache


def word_embedding_backward(dout, cache):
    """Backward pass of the word embedding. Words are integers, so there is no
    gradient for x: only for the embedding matrix.

    Inputs:
    - dout: Upstream gradients, of shape (N, T, D) (x.shape + (D,))
    - cache: Cache from word_embedding_forward

    Returns:
    - dW: Gradient of the word embedding matrix, of shape (V, D)
    """
    ### BEGIN SOLUTION
    x, shape, dtype = cache
    D = shape[1]
    dW = np.zeros(shape, dtype=dtype)
    # Repeated words add up: np.add.at(dW, x.ravel(), dout) says that, one row
    # at a time. The same sums in the same order, done as one np.add.at over
    # single numbers (element j of word w is element w * D + j of dW), run
    # several times faster.
    flat = (np.asarray(x, dtype=np.intp).reshape(-1, 1) * D + np.arange(D)).ravel()
    np.add.at(dW.reshape(-1), flat, dout.reshape(-1))
    ### END SOLUTION
    return dW


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------

def sigmoid(x):
    """A numerically stable logistic sigmoid: no overflow for large |x|."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    z = np.exp(x[~pos])
    out[~pos] = z / (1.0 + z)
    return out


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """One time step of an LSTM. The activation vector a = x Wx + prev_h Wh + b,
    of size 4H, is split into the gates in the order i, f, o, g.

    Inputs:
    - x: Input data, of shape (N, D)
    - prev_h: Previous hidden state, of shape (N, H)
    - prev_c: Previous cell state, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, 4H)
    - Wh: Hidden-to-hidden weights, of shape (H, 4H)
    - b: Biases, of shape (4H,)

    Returns a tuple of:
    - next_h: Next hidden state, of shape (N, H)
    - next_c: Next cell state, of shape (N, H)
    - cache: Values needed by the backward pass
    """
    check_shapes('lstm_step_forward', cell='lstm', Wx=(Wx, 'D 4H'), Wh=(Wh, 'H 4H'), b=(b, '4H'),
                 x=(x, 'N D'), prev_h=(prev_h, 'N H'), prev_c=(prev_c, 'N H'))
    ### BEGIN SOLUTION
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b          # (N, 4H)
    i = sigmoid(a[:, :H])                 # input gate
    f = sigmoid(a[:, H:2 * H])            # forget gate
    o = sigmoid(a[:, 2 * H:3 * H])        # output gate
    g = np.tanh(a[:, 3 * H:])             # candidate cell
    next_c = f * prev_c + i * g           # (N, H)
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c                   # (N, H)
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)
    ### END SOLUTION
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    """Backward pass of one LSTM time step.

    Inputs:
    - dnext_h: Gradient of the next hidden state, of shape (N, H)
    - dnext_c: Gradient of the next cell state, of shape (N, H)
    - cache: Cache from lstm_step_forward

    Returns a tuple of:
    - dx: Gradient of the input data, of shape (N, D)
    - dprev_h: Gradient of the previous hidden state, of shape (N, H)
    - dprev_c: Gradient of the previous cell state, of shape (N, H)
    - dWx: Gradient of the input-to-hidden weights, of shape (D, 4H)
    - dWh: Gradient of the hidden-to-hidden weights, of shape (H, 4H)
    - db: Gradient of the biases, of shape (4H,)
    """
    ### BEGIN SOLUTION
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1 - tanh_c * tanh_c)  # both paths into next_c
    di = dc * g
    df = dc * prev_c
    do = dnext_h * tanh_c
    dg = dc * i
    da = np.hstack([di * i * (1 - i),       # sigmoid'(z) = s (1 - s)
                    df * f * (1 - f),
                    do * o * (1 - o),
                    dg * (1 - g * g)])      # tanh'(z) = 1 - t^2; (N, 4H)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dprev_c = dc * f
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    ### END SOLUTION
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """An LSTM over a whole sequence of T steps. The initial cell state is zero.

    Inputs:
    - x: Input data, of shape (N, T, D)
    - h0: Initial hidden state, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, 4H)
    - Wh: Hidden-to-hidden weights, of shape (H, 4H)
    - b: Biases, of shape (4H,)

    Returns a tuple of:
    - h: Hidden states for every time step, of shape (N, T, H)
    - cache: Values needed by the backward pass
    """
    check_shapes('lstm_forward', cell='lstm', Wx=(Wx, 'D 4H'), Wh=(Wh, 'H 4H'), b=(b, '4H'),
                 x=(x, 'N T D'), h0=(h0, 'N H'))
    ### BEGIN SOLUTION
    # the fast pass, rnn_fast.py (the plain step-by-step way: grading/plain_reference.py)
    from .rnn_fast import _lstm_forward
    h, cache = _lstm_forward(x, h0, Wx, Wh, b)
    ### END SOLUTION
    return h, cache


def lstm_backward(dh, cache):
    """Backward pass of an LSTM over a whole sequence.

    Inputs:
    - dh: Upstream gradients of all hidden states, of shape (N, T, H)
    - cache: Cache from lstm_forward

    Returns a tuple of:
    - dx: Gradient of the input data, of shape (N, T, D)
    - dh0: Gradient of the initial hidden state, of shape (N, H)
    - dWx: Gradient of the input-to-hidden weights, of shape (D, 4H)
    - dWh: Gradient of the hidden-to-hidden weights, of shape (H, 4H)
    - db: Gradient of the biases, of shape (4H,)
    """
    ### BEGIN SOLUTION
    from .rnn_fast import _lstm_backward
    dx, dh0, dWx, dWh, db = _lstm_backward(dh, cache)
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# ----------------------------------------------------------------------------
# Affine, temporal affine and temporal softmax loss (given to students)
# ----------------------------------------------------------------------------

def affine_forward(x, w, b):
    """A fully connected layer (e.g. image features to the initial hidden
    state). Each of the N inputs is flattened to a vector of size D.

    Inputs:
    - x: Input data, of shape (N, d_1, ..., d_k), with D = d_1 * ... * d_k
    - w: Weights, of shape (D, M)
    - b: Biases, of shape (M,)

    Returns a tuple of:
    - out: Output data, of shape (N, M)
    - cache: (x, w, b)
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim < 2 or w.ndim != 2 or b.shape != w.shape[1:] or int(np.prod(x.shape[1:])) != w.shape[0]:
        raise ValueError('affine_forward: x must be of shape (N, d_1, ..., d_k), w of shape (D, M) with '
                         'D = d_1 * ... * d_k, and b of shape (M,); got x %s, w %s, b %s'
                         % (x.shape, w.shape, b.shape))
    out = x.reshape(x.shape[0], -1) @ w + b      # (N, M)
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Backward pass of affine_forward.

    Inputs:
    - dout: Upstream gradients, of shape (N, M)
    - cache: Cache from affine_forward

    Returns a tuple of:
    - dx: Gradient of x, of shape (N, d_1, ..., d_k)
    - dw: Gradient of w, of shape (D, M)
    - db: Gradient of b, of shape (M,)
    """
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def temporal_affine_forward(x, w, b):
    """An affine layer applied at every time step: a vector of size D becomes
    one of size M (e.g. a hidden state becomes scores over the vocabulary).

    Inputs:
    - x: Input data, of shape (N, T, D)
    - w: Weights, of shape (D, M)
    - b: Biases, of shape (M,)

    Returns a tuple of:
    - out: Output data, of shape (N, T, M)
    - cache: Values needed by the backward pass
    """
    check_shapes('temporal_affine_forward', w=(w, 'D M'), b=(b, 'M'), x=(x, 'N T D'))
    N, T, D = x.shape
    M = b.shape[0]
    out = (x.reshape(N * T, D) @ w).reshape(N, T, M)
    out += b
    cache = (x, w, b)
    return out, cache


def temporal_affine_backward(dout, cache):
    """Backward pass of the temporal affine layer.

    Inputs:
    - dout: Upstream gradients, of shape (N, T, M)
    - cache: Cache from temporal_affine_forward

    Returns a tuple of:
    - dx: Gradient of the input, of shape (N, T, D)
    - dw: Gradient of the weights, of shape (D, M)
    - db: Gradient of the biases, of shape (M,)
    """
    x, w, b = cache
    check_shapes('temporal_affine_backward', cached=('w', 'x'), w=(w, 'D M'), x=(x, 'N T D'),
                 dout=(dout, 'N T M'))
    N, T, D = x.shape
    M = b.shape[0]
    dout2 = dout.reshape(N * T, M)
    dx = (dout2 @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ dout2
    db = dout2.sum(axis=0)
    return dx, dw, db


def temporal_softmax_loss(x, y, mask, verbose=False):
    """Softmax loss at every time step, summed over time and averaged over the
    minibatch. Positions where mask is False (e.g. <NULL> padding after the end
    of a caption) add nothing to the loss or the gradient.

    Inputs:
    - x: Scores over the vocabulary, of shape (N, T, V)
    - y: Ground-truth indices, of shape (N, T), each in 0 <= y[i, t] < V where
      mask is True (not used where it is False)
    - mask: Boolean array of shape (N, T): whether x[i, t] counts in the loss
    - verbose: Print the shape of the flattened gradient

    Returns a tuple of:
    - loss: Scalar loss
    - dx: Gradient of the loss with respect to the scores x, of shape (N, T, V)
    """
    check_shapes('temporal_softmax_loss', x=(x, 'N T V'), y=(y, 'N T'), mask=(mask, 'N T'))
    if not np.issubdtype(x.dtype, np.floating) or x.shape[0] == 0:
        raise ValueError('temporal_softmax_loss: x must be floating point scores with N >= 1; got dtype '
                         '%s, shape %s' % (x.dtype, x.shape))
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError('temporal_softmax_loss: mask must be boolean (or 0/1): whether each position '
                         'counts; got values in [%s, %s]' % (mask.min(), mask.max()))
    check_word_ids('temporal_softmax_loss', 'y (where mask is True)',
                   np.asarray(y)[np.asarray(mask, dtype=bool)], x.shape[2], 'x')
    N, T, V = x.shape
    x_flat = x.reshape(N * T, V)
    mask_flat = mask.reshape(N * T)
    y_flat = np.where(mask_flat, y.reshape(N * T), 0)         # y unused where mask is False
    probs = x_flat - x_flat.max(axis=1, keepdims=True)        # shifted scores, (N*T, V)
    rows = np.arange(N * T)
    log_p = probs[rows, y_flat]                               # shifted score of the true word
    np.exp(probs, out=probs)
    sums = probs.sum(axis=1)
    log_p -= np.log(sums)                                     # log-prob of the true word
    loss = -np.sum(log_p * mask_flat) / N + 0.0               # + 0.0: 0.0, not -0.0, when all is masked
    weight = (mask_flat / N).astype(probs.dtype)              # (N*T,)
    probs *= (weight / sums)[:, None]                         # softmax, masked, / N
    probs[rows, y_flat] -= weight
    if verbose:
        print('dx_flat: ', probs.shape)
    dx = probs.reshape(N, T, V)
    return loss, dx
