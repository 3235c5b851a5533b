"""Room for helpers of your own: functions written for rnn_layers.py and
classifiers/rnn.py can live here (import them from there). This file is
graded together with those two.
"""
### BEGIN SOLUTION
# The reference solution's sequence layers: the fast passes behind
# rnn_forward, rnn_backward, lstm_forward, lstm_backward (in rnn_layers.py)
# and the loss of CaptioningRNN. They compute the same thing as the step
# functions of rnn_layers.py run over T steps, in float32 when the inputs are
# float32. The student version of this module is the docstring above alone:
# there the student writes the sequence layers in rnn_layers.py, step by
# step, and the loss in the plain way.
import numpy as np

# ----------------------------------------------------------------------------
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
    (M, V), dt = scores.shape, scores.dtype
    rows = np.arange(M)
    top = scores.max(axis=1, keepdims=True)                   # (M, 1)
    # Scores are shifted by their row's largest for exp, unless no row needs
    # it: when every row's largest is between -40 and where a sum of V exps
    # could overflow, exp(score) already sums to a normal finite number, and
    # what underflows is below exp(-47) of the row's sum. (One pass fewer.)
    if M and not (-40 < top.min() and top.max() < np.log(np.finfo(dt).max / V) - 1):
        scores -= top                                         # shifted scores
    log_p = scores[rows, y]                                   # (shifted) score of the true word
    with np.errstate(under='ignore'):
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
    # always a copy, never a view of the cache (ascontiguousarray would give a
    # view when N or T is 1): changing h in place must not change the backward
    h = np.array(_steps_of_rows(hr, width, N).transpose(1, 0, 2), order='C')  # (N, T, H)
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

def _gate_activations(gt):
    """The LSTM gate activations, in place: sigmoid for i, f, o and tanh for g.

    Inputs:
    - gt: Pre-activations, gate-major, of shape (4, n, H); overwritten

    Returns gt. Both ways below make one pass of a transcendental function
    over all four gates, whichever numpy runs faster (_tanh_is_fast):
    - tanh: sigmoid(a) = (1 + tanh(a / 2)) / 2. numpy's float32 tanh on
      AVX-512 costs about 0.6 ns per value, less than its exp.
    - exp: sigmoid(a) = 1 / (1 + exp(-a)) and tanh(a) = 2 sigmoid(2a) - 1.
      Elsewhere (AVX2, float64) exp costs about half of tanh. Where exp
      overflows to inf, 1 / (1 + inf) is exactly 0, the right limit, so that
      warning is silenced, as are the underflows (exp's to 0, limit 1, and
      the divide's to a tiny sigmoid); tanh's
      result is exact to about one rounding of values near 1 (absolute error
      6e-8 in float32, 1e-16 in float64).
    """
    if _tanh_is_fast(gt.dtype):
        gt[:3] *= 0.5
        np.tanh(gt, out=gt)
        s = gt[:3]
        s *= 0.5
        s += 0.5
        return gt
    scale = np.array([-1, -1, -1, -2], dtype=gt.dtype).reshape(4, 1, 1)
    gt *= scale
    with np.errstate(over='ignore', under='ignore'):
        np.exp(gt, out=gt)
        gt += 1
        np.divide(1, gt, out=gt)
    g = gt[3]
    g *= 2
    g -= 1
    return gt


_FAST_TANH = {}


def _tanh_is_fast(dtype):
    """Whether numpy's tanh for float32 `dtype` runs its AVX-512 loop, which
    beats exp (about 0.6 against 0.75 ns per value; on AVX2 tanh costs 3.0 ns
    and exp 1.6). Read once from numpy's dispatch table; False where numpy
    cannot tell (before numpy 2.1) and for float64, where exp is as fast or
    faster."""
    dtype = np.dtype(dtype)
    if dtype not in _FAST_TANH:
        fast = False
        if dtype == np.float32:
            try:
                from numpy.lib.introspect import opt_func_info
                loops = opt_func_info(func_name='^tanh$', signature='^float32$').get('tanh', {})
                current = ' '.join(str(v.get('current', '')) for v in loops.values())
                fast = 'AVX512' in current or 'X86_V4' in current
            except Exception:   # numpy without the dispatch table: keep the exp way
                fast = False
        _FAST_TANH[dtype] = fast
    return _FAST_TANH[dtype]


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
    # A recurrent product per gate, (H, H) blocks of Wh read in place, is
    # faster than one of (H, 4H) with these sizes.
    Wh = np.ascontiguousarray(Wh)
    Whk = [Wh[:, k * H:(k + 1) * H] for k in range(4)]  # (H, H) each
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
        for k in range(4):
            gt[k] += np.matmul(prev_h[:n], Whk[k], out=rec[k, :n])
        i, f, o, g = _gate_activations(gt)
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
