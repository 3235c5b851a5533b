"""The plain solution of the parts whose reference solution is fast code.

In cs231n/ the solutions of rnn_forward, rnn_backward, lstm_forward,
lstm_backward and CaptioningRNN.loss call the fast passes of rnn_fast.py.
A student writes them the plain way, step by step and layer by layer, and
this file is that way: the version to read when helping a student or grading
by hand. tests/test_plain_reference.py checks that it gives the results of
the package, so the two cannot drift apart.

It is instructor-only (grading/ never goes into the student version) and
builds only on the given code and the step functions of cs231n/rnn_layers.py.
"""
import numpy as np

from cs231n.rnn_layers import (lstm_step_backward, lstm_step_forward, rnn_step_backward,
                               rnn_step_forward, temporal_affine_backward,
                               temporal_affine_forward, temporal_softmax_loss,
                               word_embedding_backward, word_embedding_forward)


def rnn_forward(x, h0, Wx, Wh, b):
    """rnn_forward of cs231n/rnn_layers.py: x (N, T, D), h0 (N, H) -> h (N, T, H), cache."""
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx, Wh, b))
    prev_h, cache = h0, []
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)  # (N, H)
        h[:, t] = prev_h
        cache.append(step_cache)
    return h, cache


def rnn_backward(dh, cache):
    """rnn_backward: dh (N, T, H) -> dx (N, T, D), dh0 (N, H), dWx, dWh, db."""
    N, T, H = dh.shape
    dprev_h, dxs, dW = np.zeros((N, H), dtype=dh.dtype), [], None
    for t in reversed(range(T)):
        # the gradient of h_t comes from the loss at t and from step t + 1
        dx_t, dprev_h, *dW_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dxs.append(dx_t)                                   # (N, D)
        dW = dW_t if dW is None else [a + d for a, d in zip(dW, dW_t)]  # shared weights: sum
    dWx, dWh, db = dW
    return np.stack(dxs[::-1], axis=1), dprev_h, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """lstm_forward: x (N, T, D), h0 (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,)
    -> h (N, T, H), cache. The cell state starts at 0 and is not returned."""
    N, T, _ = x.shape
    dtype = np.result_type(x, h0, Wx, Wh, b)
    h = np.empty((N, T, h0.shape[1]), dtype=dtype)
    prev_h, prev_c, cache = h0, np.zeros(h0.shape, dtype=dtype), []
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)
    return h, cache


def lstm_backward(dh, cache):
    """lstm_backward: dh (N, T, H) -> dx (N, T, D), dh0 (N, H), dWx, dWh, db."""
    N, T, H = dh.shape
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)   # nothing flows into the last cell state
    dxs, dW = [], None
    for t in reversed(range(T)):
        dx_t, dprev_h, dprev_c, *dW_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dxs.append(dx_t)
        dW = dW_t if dW is None else [a + d for a, d in zip(dW, dW_t)]
    dWx, dWh, db = dW
    return np.stack(dxs[::-1], axis=1), dprev_h, dWx, dWh, db


def captioning_loss(model, features, captions):
    """CaptioningRNN.loss, layer by layer: the model's parameters, features
    (N, D) and captions (N, T + 1) -> (loss, grads), grads keyed as
    model.params."""
    p, null = model.params, model._null
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]   # read, predict: (N, T) each
    mask = captions_out != null                                   # <NULL> targets do not count
    forward, backward = ((rnn_forward, rnn_backward) if model.cell_type == 'rnn'
                         else (lstm_forward, lstm_backward))

    # forward: initial hidden state, word vectors, the cell over time, scores, loss
    h0 = features @ p['W_proj'] + p['b_proj']                       # (N, H)
    x, embed_cache = word_embedding_forward(captions_in, p['W_embed'])      # (N, T, W)
    h, cell_cache = forward(x, h0, p['Wx'], p['Wh'], p['b'])                # (N, T, H)
    scores, vocab_cache = temporal_affine_forward(h, p['W_vocab'], p['b_vocab'])  # (N, T, V)
    loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

    # backward, the same layers in reverse order
    grads = {}
    dh, grads['W_vocab'], grads['b_vocab'] = temporal_affine_backward(dscores, vocab_cache)
    dx, dh0, grads['Wx'], grads['Wh'], grads['b'] = backward(dh, cell_cache)
    grads['W_embed'] = word_embedding_backward(dx, embed_cache)
    grads['W_proj'] = features.T @ dh0
    grads['b_proj'] = dh0.sum(axis=0)
    return loss, grads
