"""Layers of a recurrent captioning model: vanilla RNN, LSTM, word embedding,
temporal affine and temporal softmax loss.

Every layer is a pair of pure functions: `*_forward(...) -> (out, cache)` and
`*_backward(dout, cache) -> gradients`. Letters used for shapes:
N minibatch size, T time steps, D input size, H hidden size, V vocabulary size,
M output size of an affine layer.

The single-step functions are written the plain way, one line of math each.
The sequence functions (rnn_forward, lstm_forward and their backward passes)
compute the same thing over T steps, and keep the dtype of their inputs
(float32 stays float32).
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
    check_shapes('rnn_step_forward', Wx=(Wx, 'D H'), Wh=(Wh, 'H H'), b=(b, 'H'),
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
    check_shapes('rnn_forward', Wx=(Wx, 'D H'), Wh=(Wh, 'H H'), b=(b, 'H'),
                 x=(x, 'N T D'), h0=(h0, 'N H'))
    ### BEGIN SOLUTION
    h, cache = _rnn_forward(x, h0, Wx, Wh, b)   # at the end of this file
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
    - W: Word vectors, of shape (V, D)

    Returns a tuple of:
    - out: Word vectors of every input word, of shape (N, T, D)
    - cache: Values needed by the backward pass
    """
    check_shapes('word_embedding_forward', W=(W, 'V D'), x=(x, 'N T'))
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
    - dout: Upstream gradients, of shape (N, T, D)
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
    check_shapes('lstm_step_forward', Wx=(Wx, 'D 4H'), Wh=(Wh, 'H 4H'), b=(b, '4H'),
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
    check_shapes('lstm_forward', Wx=(Wx, 'D 4H'), Wh=(Wh, 'H 4H'), b=(b, '4H'),
                 x=(x, 'N T D'), h0=(h0, 'N H'))
    ### BEGIN SOLUTION
    h, cache = _lstm_forward(x, h0, Wx, Wh, b)   # at the end of this file
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
    dx, dh0, dWx, dWh, db = _lstm_backward(dh, cache)
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db


# ----------------------------------------------------------------------------
# Temporal affine layer and temporal softmax loss (given to students)
# ----------------------------------------------------------------------------

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
    check_shapes('temporal_affine_backward', w=(w, 'D M'), x=(x, 'N T D'), dout=(dout, 'N T M'))
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
    loss = -np.sum(log_p * mask_flat) / N
    weight = (mask_flat / N).astype(probs.dtype)              # (N*T,)
    probs *= (weight / sums)[:, None]                         # softmax, masked, / N
    probs[rows, y_flat] -= weight
    if verbose:
        print('dx_flat: ', probs.shape)
    dx = probs.reshape(N, T, V)
    return loss, dx
### BEGIN SOLUTION


# ----------------------------------------------------------------------------
# The sequence layers as the reference solution computes them. This part of
# the file is left out of the student release: there the student writes
# rnn_forward, rnn_backward, lstm_forward and lstm_backward above, and the
# loss of CaptioningRNN in the plain way.
#
# What makes them fast, beyond the plain step-by-step math:
# - the input projection of all time steps is one matrix multiply, buffers
#   are allocated once, and the weight gradients are one multiply over all
#   steps;
# - elementwise LSTM work runs on contiguous gate-major blocks;
# - they skip, exactly, the samples that no longer matter from some step on
#   (captions that have ended). The cells work on a "rows" layout: a sequence
#   of T steps in which step t has width[t] samples, the first width[t] of
#   the minibatch (width never increases), stored step after step as one
#   (M, K) array, M = width.sum(). Step t is rows off[t]:off[t + 1].
#   CaptioningRNN.loss sorts its minibatch longest caption first and works
#   in that layout from the words to the scores and back, with the input
#   projection done once per distinct word (_word_projection).
#   rnn_forward and lstm_forward compute every sample (width[t] = N); their
#   backward passes find in dh which samples have ended and skip those.
# G is the width of the input projection: H, or 4H for the LSTM.
# ----------------------------------------------------------------------------

def _dtype(*arrays):
    """The floating dtype the computation runs in (float32 stays float32)."""
    return np.result_type(*[a.dtype for a in arrays], np.float32)


def _live_widths(dh):
    """Which samples still need work at each step of a backward pass.

    A sample whose upstream gradient is zero at step t and at every later step
    (a caption that has ended) gets exactly zero gradient at step t. In a
    minibatch sorted by length, longest first, the samples that remain are a
    prefix 0..width[t]-1 of the batch; otherwise the prefix may include some
    zero rows, which is still exact.

    Inputs:
    - dh: Upstream gradients, of shape (N, T, H)

    Returns:
    - width: Integer array of shape (T,), never increasing with t
    """
    N = dh.shape[0]
    live = np.any(dh != 0, axis=2)                                    # (N, T)
    reach = np.logical_or.accumulate(live[:, ::-1], axis=1)[:, ::-1]  # a gradient at t or later
    return (reach * np.arange(1, N + 1)[:, None]).max(axis=0, initial=0)


def _offsets(width):
    """Step t is rows off[t]:off[t + 1] of an array of the live rows, (T + 1,)."""
    return np.concatenate(([0], np.cumsum(width)))


def _check_width(width, N, T):
    """The widths of a forward pass: all samples when width is None."""
    if width is None:
        return np.full(T, N)
    width = np.asarray(width)
    if width.shape != (T,) or (width < 0).any() or (width > N).any() or (np.diff(width) > 0).any():
        raise ValueError('width must be a never-increasing integer array of shape (%d,) with '
                         'values in [0, %d]; got %r' % (T, N, width))
    return width


def _rows_of_steps(a, width):
    """The rows 0..width[t]-1 of every step t of a (T, N, K) array, one step
    after the other: (M, K), M = width.sum(). May be a view of a."""
    T, N, K = a.shape
    return a.reshape(T * N, K) if (width == N).all() else a[np.arange(N) < width[:, None]]


def _steps_of_rows(rows, width, N):
    """The inverse of _rows_of_steps: (M, K) rows back to (T, N, K), zeros elsewhere."""
    T, K = len(width), rows.shape[1]
    if (width == N).all():
        return rows.reshape(T, N, K)
    out = np.zeros((T, N, K), dtype=rows.dtype)
    out[np.arange(N) < width[:, None]] = rows
    return out


def _narrower_rows(width, narrow):
    """Indices of the rows of a rows-layout array of widths `width` that hold
    the first narrow[t] samples of every step t (narrow <= width)."""
    off = _offsets(width)
    return np.concatenate([off[t] + np.arange(n) for t, n in enumerate(narrow)] + [np.zeros(0, int)])


def _inputs_and_prev_h(xr, h0, hr, width):
    """[x, prev_h] of every row, (M, D + H): the left operand of the
    weight-gradient product."""
    D = xr.shape[1]
    out = np.empty((xr.shape[0], D + h0.shape[1]), dtype=hr.dtype)
    out[:, :D] = xr
    _prev_h_rows(h0, hr, width, out=out[:, D:])
    return out


def _prev_h_rows(h0, hr, width, out=None):
    """The previous hidden state of every row, (M, H): for the first n rows of
    step t, h0 (t = 0) or the first n rows of step t - 1."""
    off = _offsets(width)
    out = np.empty_like(hr) if out is None else out
    for t, n in enumerate(width):
        prev = h0 if t == 0 else hr[off[t - 1]:]
        out[off[t]:off[t + 1]] = prev[:n]
    return out


def _backward_widths(dh, fwd_width):
    """The widths of a backward pass, checked against those of its forward pass."""
    width = _live_widths(dh)
    if (width > fwd_width).any():
        t = int(np.argmax(width > fwd_width))
        raise ValueError('dh is nonzero for sample %d at step %d or later, but the forward pass '
                         'computed only the first %d samples at step %d: dh must be zero where '
                         'the forward pass skipped' % (width[t] - 1, t, fwd_width[t], t))
    return width


def _softmax_loss_rows(scores, y, scale):
    """temporal_softmax_loss of (M, V) scores in which every row counts, with
    targets y (M,), the loss and the gradient multiplied by scale (1 / N for
    the minibatch average). It works in place, one pass less and no second
    (M, V) array: the scores are overwritten with their gradient.

    Returns a tuple of:
    - loss: Scalar loss
    - dscores: The gradient, of shape (M, V): the scores array itself
    """
    rows = np.arange(scores.shape[0])
    scores -= scores.max(axis=1, keepdims=True)               # shifted scores
    log_p = scores[rows, y]                                   # shifted score of the true word
    np.exp(scores, out=scores)
    sums = scores.sum(axis=1)
    loss = (np.log(sums) - log_p).sum() * scale              # 0.0, not -0.0, for no rows
    scores *= (scale / sums).astype(scores.dtype)[:, None]    # softmax * scale
    scores[rows, y] -= scale
    return loss, scores


def _sequence_forward(rows_forward, x, h0, Wx, Wh, b, width):
    """rnn_forward / lstm_forward on (N, T, D) inputs through a rows-layout
    forward pass; with `width` (T,) step t computes only the first width[t]
    samples, and the others' hidden states are 0."""
    N, T, D = x.shape
    width = _check_width(width, N, T)
    xr = _rows_of_steps(x.transpose(1, 0, 2), width)           # (M, D)
    hr, cache = rows_forward(xr, h0, Wx, Wh, b, width)         # (M, H)
    # a copy, not a view of the cache: changing h in place must not change
    # what the backward pass computes
    h = np.ascontiguousarray(_steps_of_rows(hr, width, N).transpose(1, 0, 2))  # (N, T, H)
    return h, cache


def _sequence_backward(rows_backward, narrow, dh, cache):
    """rnn_backward / lstm_backward on (N, T, H) gradients: skips the samples
    whose gradient is zero from some step on, then runs the rows-layout
    backward pass. narrow(cache, rows, width) keeps only those rows."""
    fwd_width = cache[-1]
    N = dh.shape[0]
    width = _backward_widths(dh, fwd_width)
    if (width < fwd_width).any():
        cache = narrow(cache, _narrower_rows(fwd_width, width), width)
    dhr = _rows_of_steps(dh.transpose(1, 0, 2), width)        # (M, H)
    dt = cache[0].dtype                    # rows_backward works on its own copy, in that dtype
    dhr = np.array(dhr, dtype=dt) if np.may_share_memory(dhr, dh) else dhr.astype(dt, copy=False)
    dxr, dh0, dWx, dWh, db = rows_backward(dhr, cache)
    return _steps_of_rows(dxr, width, N).transpose(1, 0, 2), dh0, dWx, dWh, db


# ----------------------------------------------------------------------------
# Word inputs: the input projection once per distinct word
# ----------------------------------------------------------------------------

def _word_projection(words, W_embed, Wx, b, gates):
    """x Wx + b for rows whose inputs are word vectors, x = W_embed[words].

    x Wx is the same for every occurrence of a word, and a minibatch has far
    fewer distinct words than positions (about 200 of 580 for 50 COCO
    captions): projecting each distinct word once and copying its rows costs
    less than projecting every position. Backward, the gradients of a word's
    rows are summed first (_word_projection_backward); the word vectors
    themselves are never needed for all rows.

    Inputs:
    - words: Integer array of shape (M,), the word of every row, in [0, V)
    - W_embed: Word vectors, of shape (V, W)
    - Wx: Input-to-hidden weights, of shape (W, G)
    - b: Biases, of shape (G,)
    - gates: 1, or 4 for gate-major results (the input of _lstm_recurrence)

    Returns a tuple of:
    - proj: x Wx + b, of shape (M, G), or (4, M, G / 4) for gates=4
    - cache: Values needed by _word_projection_backward
    """
    dt = _dtype(W_embed, Wx, b)
    Wx, b = Wx.astype(dt, copy=False), b.astype(dt, copy=False)
    # the distinct words, most frequent first, and the number of each row's word
    counts = np.bincount(words, minlength=W_embed.shape[0])      # (V,)
    uniq = np.argsort(-counts, kind='stable')[:np.count_nonzero(counts)]  # (U,)
    counts = counts[uniq]
    rank = np.empty(W_embed.shape[0], dtype=np.intp)
    rank[uniq] = np.arange(len(uniq))
    inv = rank[words]                               # (M,)
    E = W_embed[uniq].astype(dt, copy=False)        # (U, W)
    if gates == 4:
        H = Wx.shape[1] // 4
        P = np.matmul(E, Wx.reshape(-1, 4, H).transpose(1, 0, 2))  # (4, U, H), gate-major
        P += b.reshape(4, 1, H)
        proj = np.take(P, inv, axis=1)              # (4, M, H)
    else:
        P = E @ Wx                                  # (U, G)
        P += b
        proj = np.take(P, inv, axis=0)              # (M, G)
    # For the sums by word: the rows in order of occurrence number (the first
    # occurrence of every word, then the second ones, ...), word after word
    # within each; nwords[j] words have more than j occurrences, and since the
    # most frequent words come first, they are words 0..nwords[j]-1. The few
    # words that occur more than `many` times have the rest of their rows
    # summed by one product with a 0/1 matrix instead of one slice each.
    rows = np.argsort(inv, kind='stable')           # (M,) the rows word after word
    occ = np.empty_like(inv)
    occ[rows] = np.arange(len(inv)) - np.repeat(np.cumsum(counts) - counts, counts)
    order = np.lexsort((inv, occ))                  # (M,)
    nwords = (len(counts) - np.cumsum(np.bincount(counts)))[:counts.max(initial=0)]
    many = max(1, int(np.searchsorted(-nwords, -16)))  # occurrences while more than 16 words have them
    tail = order[nwords[:many].sum():]              # the rows after the first `many` occurrences
    onehot = (inv[tail] == np.arange(nwords[many] if many < len(nwords) else 0)[:, None]).astype(dt)
    return proj, (uniq, order, nwords[1:many], tail, onehot, E, Wx, W_embed.shape)


def _word_projection_backward(dproj, cache):
    """Backward pass of _word_projection.

    Inputs:
    - dproj: Upstream gradients of the rows of proj, of shape (M, G) (for
      the LSTM, the gates side by side as in Wx)
    - cache: Cache from _word_projection

    Returns a tuple of:
    - dW_embed: Gradient of the word vectors, of shape (V, W)
    - dWx: Gradient of Wx, of shape (W, G)
    - db: Gradient of b, of shape (G,)
    """
    uniq, order, nwords, tail, onehot, E, Wx, shape = cache
    k = len(uniq)
    S = dproj[order[:k]]                            # (U, G): first occurrences (see _word_projection)
    for n in nwords:                                # then the next occurrences, in turn
        S[:n] += dproj[order[k:k + n]]
        k += n
    if len(tail):                                   # the most frequent words' remaining rows
        S[:len(onehot)] += onehot @ dproj[tail]
    dW_embed = np.zeros(shape, dtype=S.dtype)
    dW_embed[uniq] = S @ Wx.T                       # (U, W)
    return dW_embed, E.T @ S, S.sum(axis=0)


# ----------------------------------------------------------------------------
# Vanilla RNN
# ----------------------------------------------------------------------------

def _rnn_rows_forward(xr, h0, Wx, Wh, b, width):
    """The RNN forward pass in the rows layout (see above).

    Inputs:
    - xr: Inputs, of shape (M, D): rows off[t]:off[t + 1] are those of
      samples 0..width[t]-1 at step t
    - h0: Initial hidden state, of shape (N, H)
    - Wx, Wh, b: as in rnn_forward
    - width: Integer array of shape (T,), never increasing, summing to M

    Returns a tuple of:
    - hr: Hidden states, of shape (M, H), in the layout of xr
    - cache: Values needed by _rnn_rows_backward
    """
    dt = _dtype(xr, h0, Wx, Wh, b)
    xr, h0, Wh = (a.astype(dt, copy=False) for a in (xr, h0, Wh))
    hr = xr @ Wx.astype(dt, copy=False)     # (M, H): the input projection of every step
    hr += b
    _rnn_recurrence(hr, h0, Wh, width)
    return hr, (xr, h0, Wx, Wh, hr, width)


def _rnn_recurrence(hr, h0, Wh, width):
    """The recurrence of the RNN forward pass, in place: hr (M, H) holds
    x Wx + b of every row on entry and the hidden states on return."""
    off = _offsets(width)
    N, H = h0.shape
    rec = np.empty((N, H), dtype=hr.dtype)   # the recurrent term of one step
    prev = h0
    for t in range(np.count_nonzero(width)):
        n = width[t]
        a = hr[off[t]:off[t + 1]]            # (n, H)
        a += np.matmul(prev[:n], Wh, out=rec[:n])
        np.tanh(a, out=a)
        prev = a
    return hr


def _rnn_rows_backward(dhr, cache):
    """The RNN backward pass in the rows layout.

    Inputs:
    - dhr: Upstream gradients of the hidden states, of shape (M, H), in the
      layout of the forward pass; overwritten (it becomes the gradient of the
      pre-activations)
    - cache: Cache from _rnn_rows_forward

    Returns a tuple of:
    - dxr: Gradient of the inputs, of shape (M, D)
    - dh0, dWx, dWh, db: as in rnn_backward
    """
    xr, h0, Wx, Wh, hr, width = cache
    dA, dh0 = _rnn_recurrence_backward(dhr, h0, Wh, hr, width)
    dxr = dA @ Wx.T.astype(dA.dtype, copy=False)             # (M, D)
    # dWx and dWh in one product: [x, prev_h] (M, D + H) against dA
    dW = _inputs_and_prev_h(xr, h0, hr, width).T @ dA   # (D + H, H)
    D = xr.shape[1]
    db = dA.sum(axis=0)                          # (H,)
    return dxr, dh0, dW[:D], dW[D:], db


def _rnn_recurrence_backward(dhr, h0, Wh, hr, width):
    """Back through the recurrence: dhr (M, H), overwritten, becomes dA, the
    gradient of the pre-activations x Wx + h_prev Wh + b. Returns (dA, dh0)."""
    off = _offsets(width)
    N, H = h0.shape
    dt = hr.dtype
    dA = dhr                                   # gradients of the pre-activations, in place
    dprev_hT = np.zeros((H, N), dtype=dt)      # dprev_h, transposed: its product is faster so
    dtanh = np.empty((N, H), dtype=dt)
    WhT = Wh.T
    for t in range(np.count_nonzero(width) - 1, -1, -1):  # back from the last step with work
        n = width[t]
        da = dA[off[t]:off[t + 1]]                 # (n, H)
        da += dprev_hT[:, :n].T                    # from step t + 1 (zero for the rows it lacks)
        h = hr[off[t]:off[t + 1]]
        d = dtanh[:n]
        np.multiply(h, h, out=d)
        np.subtract(1, d, out=d)                   # tanh'(a) = 1 - tanh(a)^2
        da *= d                                    # gradient of the pre-activation at step t
        np.matmul(da, WhT, out=dprev_hT[:, :n].T)  # (n, H)
    return dA, np.ascontiguousarray(dprev_hT.T)


def _rnn_narrow(cache, rows, width):
    xr, h0, Wx, Wh, hr, _ = cache
    return xr[rows], h0, Wx, Wh, hr[rows], width


def _rnn_forward(x, h0, Wx, Wh, b, width=None):
    """rnn_forward; with `width` (T,) step t computes only the first width[t]
    samples, and the others' hidden states are 0."""
    return _sequence_forward(_rnn_rows_forward, x, h0, Wx, Wh, b, width)


def _rnn_backward(dh, cache):
    """rnn_backward, after either kind of forward pass."""
    return _sequence_backward(_rnn_rows_backward, _rnn_narrow, dh, cache)


# ----------------------------------------------------------------------------
# LSTM
# ----------------------------------------------------------------------------

def _sigmoid_inplace(a):
    """sigmoid(a) written into a, without temporaries.

    float32: 0.5 + 0.5 tanh(a / 2), four passes of numpy's fast float32 tanh;
    the result is exact to float32 rounding of values near 1 (absolute error
    about 6e-8), but sigmoids below about 1e-7 lose their relative precision.
    Other dtypes: 1 / (1 + exp(-a)), precise for tiny results too; where
    exp(-a) overflows to inf (a below about -709 in float64) 1 / (1 + inf) is
    exactly 0, the right limit, so that warning is silenced. In float64 this
    is also the faster of the two.
    """
    if a.dtype == np.float32:
        a *= 0.5
        np.tanh(a, out=a)
        a *= 0.5
        a += 0.5
        return a
    with np.errstate(over='ignore'):
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1
        np.divide(1, a, out=a)
    return a


def _lstm_rows_forward(xr, h0, Wx, Wh, b, width):
    """The LSTM forward pass in the rows layout: inputs and returns as in
    _rnn_rows_forward, with the weights of lstm_forward."""
    dt = _dtype(xr, h0, Wx, Wh, b)
    H = h0.shape[1]
    xr, h0, Wh = (a.astype(dt, copy=False) for a in (xr, h0, Wh))
    # Everything runs gate-major: the gates i, f, o, g of the rows of step t
    # are gates[:, rows] (4, n, H), contiguous blocks, on which elementwise
    # work is several times faster than on column slices of (n, 4H)
    # activations. The products write them so directly, with the weights of
    # each gate copied into a contiguous block, (4, D, H).
    gates = np.matmul(xr, _gate_blocks(Wx.astype(dt, copy=False), H))  # (4, M, H): all steps
    gates += b.astype(dt, copy=False).reshape(4, 1, H)
    hr, cr, tcr, c0 = _lstm_recurrence(gates, h0, Wh, width)
    return hr, (xr, h0, c0, Wx, Wh, hr, cr, tcr, gates, width)


def _gate_blocks(W, H):
    """(K, 4H) weights as four contiguous (K, H) blocks, one per gate: (4, K, H)."""
    return np.ascontiguousarray(W.reshape(-1, 4, H).transpose(1, 0, 2))


def _lstm_recurrence(gates, h0, Wh, width):
    """The recurrence of the LSTM forward pass, in place: gates (4, M, H)
    holds x Wx + b of every row, gate-major, on entry and the gate activations
    on return. Returns (hr, cr, tcr, c0): hidden states, cell states and their
    tanh, (M, H) each, and the initial cell state (N, H)."""
    off = _offsets(width)
    M, (N, H), dt = off[-1], h0.shape, gates.dtype
    # A recurrent product of four (H, H) blocks is faster than one of (H, 4H)
    # with these sizes.
    Wh4 = _gate_blocks(Wh, H)                    # (4, H, H)
    hr = np.empty((M, H), dtype=dt)
    cr = np.empty((M, H), dtype=dt)              # cell states
    tcr = np.empty((M, H), dtype=dt)             # tanh of the cell states
    c0 = np.zeros((N, H), dtype=dt)
    rec = np.empty((4, N, H), dtype=dt)          # the recurrent term of one step
    ig = np.empty((N, H), dtype=dt)
    prev_h, prev_c = h0, c0
    for t in range(np.count_nonzero(width)):
        n, s = width[t], slice(off[t], off[t + 1])
        gt = gates[:, s]                          # (4, n, H)
        gt += np.matmul(prev_h[:n], Wh4, out=rec[:, :n])
        i, f, o, g = gt
        _sigmoid_inplace(gt[:3])                  # i, f, o in one go
        np.tanh(g, out=g)
        c = cr[s]
        np.multiply(f, prev_c[:n], out=c)
        c += np.multiply(i, g, out=ig[:n])       # c = f * prev_c + i * g
        np.tanh(c, out=tcr[s])
        np.multiply(o, tcr[s], out=hr[s])        # h = o * tanh(c)
        prev_h, prev_c = hr[s], c
    return hr, cr, tcr, c0


def _lstm_rows_backward(dhr, cache):
    """The LSTM backward pass in the rows layout: inputs and returns as in
    _rnn_rows_backward (dhr is only read), with the gradients of lstm_backward."""
    xr, h0, c0, Wx, Wh, hr, cr, tcr, gates, width = cache
    dA, dh0 = _lstm_recurrence_backward(dhr, h0, c0, Wh, hr, cr, tcr, gates, width)
    D = xr.shape[1]
    dxr = dA @ Wx.T.astype(dA.dtype, copy=False)           # (M, D)
    # dWx and dWh in one product: [x, prev_h] (M, D + H) against dA
    dW = _inputs_and_prev_h(xr, h0, hr, width).T @ dA     # (D + H, 4H)
    db = dA.sum(axis=0)                                    # (4H,)
    return dxr, dh0, dW[:D], dW[D:], db


def _lstm_recurrence_backward(dhr, h0, c0, Wh, hr, cr, tcr, gates, width):
    """Back through the recurrence of _lstm_recurrence, from the upstream
    gradients dhr (M, H) (only read). Returns (dA, dh0): dA (M, 4H) is the
    gradient of the pre-activations x Wx + h_prev Wh + b, gates i, f, o, g
    side by side as in Wx."""
    off = _offsets(width)
    N, H = h0.shape
    dt = hr.dtype
    dA = np.empty((off[-1], 4 * H), dtype=dt)    # gradients of the activations
    dprev_hT = np.zeros((H, N), dtype=dt)        # dprev_h, transposed: its product is faster so
    dc_ = np.zeros((N, H), dtype=dt)             # gradient of the cell state
    dnext_ = np.empty((N, H), dtype=dt)
    tmp_ = np.empty((N, H), dtype=dt)
    tmp3_ = np.empty((3, N, H), dtype=dt)
    WhT = Wh.T
    for t in range(np.count_nonzero(width) - 1, -1, -1):  # back from the last step with work
        n, s = width[t], slice(off[t], off[t + 1])
        # the first n rows of every buffer: contiguous blocks
        gt = gates[:, s]                                   # (4, n, H)
        gi, gf, go, gg = gt
        da = dA[s]                                         # (n, 4H)
        dgt = da.reshape(n, 4, H).transpose(1, 0, 2)       # its gates (4, n, H), views
        di, df, do, dg = dgt
        dnext_h, tmp, dc, tmp3 = dnext_[:n], tmp_[:n], dc_[:n], tmp3_[:, :n]
        np.add(dhr[s], dprev_hT[:, :n].T, out=dnext_h)     # from the loss and from step t + 1
        tc = tcr[s]
        np.multiply(dnext_h, tc, out=do)                   # do = dh * tanh(c)
        np.multiply(tc, tc, out=tmp)
        np.subtract(1, tmp, out=tmp)
        tmp *= go
        tmp *= dnext_h
        dc += tmp                                          # dc += dh * o * (1 - tanh(c)^2)
        np.multiply(dc, gg, out=di)                        # di = dc * g
        prev_c = c0 if t == 0 else cr[off[t - 1]:]
        np.multiply(dc, prev_c[:n], out=df)                # df = dc * prev_c
        np.multiply(dc, gi, out=dg)                        # dg = dc * i
        dc *= gf                                           # dprev_c
        # through the nonlinearities: s' = s (1 - s) for i, f, o and t' = 1 - t^2 for g
        sg = gt[:3]
        np.subtract(1, sg, out=tmp3)
        tmp3 *= sg
        dgt[:3] *= tmp3
        np.multiply(gg, gg, out=tmp)
        np.subtract(1, tmp, out=tmp)
        dg *= tmp
        np.matmul(da, WhT, out=dprev_hT[:, :n].T)          # (n, H)
    return dA, np.ascontiguousarray(dprev_hT.T)


def _lstm_narrow(cache, rows, width):
    xr, h0, c0, Wx, Wh, hr, cr, tcr, gates, _ = cache
    return xr[rows], h0, c0, Wx, Wh, hr[rows], cr[rows], tcr[rows], gates[:, rows], width


def _lstm_forward(x, h0, Wx, Wh, b, width=None):
    """lstm_forward; with `width` (T,) step t computes only the first width[t]
    samples, and the others' hidden states are 0."""
    return _sequence_forward(_lstm_rows_forward, x, h0, Wx, Wh, b, width)


def _lstm_backward(dh, cache):
    """lstm_backward, after either kind of forward pass."""
    return _sequence_backward(_lstm_rows_backward, _lstm_narrow, dh, cache)
### END SOLUTION
