# %% [markdown]
# # Image captioning with a vanilla RNN
#
# In this notebook you build, one layer at a time, a recurrent network that
# writes a sentence about an image. Each layer lives in `cs231n/rnn_layers.py`;
# the model that puts them together lives in `cs231n/classifiers/rnn.py`.
#
# After every function you write there is a check cell. It compares your code
# with expected values or with a numerical gradient, prints a `PASS` line per
# value, and stops with a message (and a hint) when something is wrong. Run the
# cells from top to bottom; if you edit `cs231n/`, the autoreload below picks up
# the change.
#
# Letters used for shapes throughout:
#
# | letter | meaning |
# | --- | --- |
# | N | minibatch size (how many captions at once) |
# | T | number of time steps (words) in a sequence |
# | D | size of an input vector at one step |
# | H | size of the hidden state |
# | V | vocabulary size |
# | W | size of a word vector |

# %%
# Setup: imports, plotting defaults and the two helpers every check uses.
import textwrap
import time

import numpy as np
import matplotlib.pyplot as plt

import cs231n
cs231n.check_location()   # warns if another copy of cs231n/ would run instead of yours
from cs231n.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                   model_gradient_errors, CAPTIONING_GRAD_PATHS)
from cs231n.rnn_layers import *
from cs231n.captioning_solver import CaptioningSolver
from cs231n.classifiers.rnn import CaptioningRNN
from cs231n.checks import check_tiny_sample, check_shape, ShapeMismatch, failure_message, check_passed
from cs231n.coco_utils import load_coco_data, sample_coco_minibatch, decode_captions
from cs231n.image_utils import image_from_url, dataset_image

%matplotlib inline
plt.rcParams['figure.figsize'] = (10.0, 8.0)
plt.rcParams['image.interpolation'] = 'nearest'
plt.rcParams['image.cmap'] = 'gray'

# Reload cs231n/ automatically when you edit it.
%load_ext autoreload
%autoreload 2


def rel_error(x, y):
    """Maximum relative error between x (the expected values) and y (yours);
    for arrays of different shapes, an infinite error that check reports."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return ShapeMismatch(expected=x.shape, got=y.shape)
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def check(name, err, tol, hint=''):
    """Stop with a message when err is not below tol; else print one PASS line.
    A failing check also names earlier checks that did not pass (cs231n/checks.py)."""
    assert err < tol, failure_message(name, err, tol, hint)
    check_passed(name)
    print(f'PASS {name}: error {err:.1e} < {tol:.0e}')

# %% [markdown]
# ## The data
#
# The official assignment uses Microsoft COCO: about 80,000 training and 40,000
# validation images with five captions each, written by people. The images
# themselves are not used directly: each one went through a convolutional
# network pretrained on ImageNet, and what we get is the activation vector of a
# late layer (a *feature vector*), reduced to 512 numbers by PCA.
#
# This suite runs without a network, so by default `load_coco_data()` loads the
# **offline set** built on your machine by `bash get_datasets.sh --offline`:
# small pictures of coloured shapes, each with several captions in plain
# English, and features from a real ImageNet network (EfficientNet-Lite0),
# stored in exactly the COCO layout. If you fetched the real COCO data with
# `bash get_datasets.sh`, the same call loads that instead; the first printed
# line says which one you got.
#
# Words are stored as integers: `data['idx_to_word']` turns an id into a word
# and `data['word_to_idx']` does the opposite. Four tokens are special:
# `<NULL>` (id 0) pads captions to a common length, `<START>` and `<END>`
# mark the ends of every caption, and `<UNK>` stands for a word not in the
# vocabulary.

# %% tags=["nbval-ignore-output"]
data = load_coco_data(pca_features=True)

# A few checks below hold only on the offline set; on other data they are skipped with a note.
from cs231n.coco_utils import default_base_dir, is_offline_set
ON_OFFLINE_SET = is_offline_set(default_base_dir(announce=False))

# Every key with its shape and dtype
for k, v in data.items():
    if isinstance(v, np.ndarray):
        print(k, type(v), v.shape, v.dtype)
    else:
        print(k, type(v), len(v))

# %% [markdown]
# ## Look at the data
#
# `sample_coco_minibatch` draws random captions with the features of their
# images. `decode_captions` turns the ids back into words. The seed makes the
# draw the same every time: change it (or delete that line) to see other
# examples. Images come from the dataset folder; when an image cannot be
# found, a grey placeholder is shown with a note instead.

# %%
np.random.seed(231)
batch_size = 3
captions, features, urls = sample_coco_minibatch(data, batch_size=batch_size)
fig, axes = plt.subplots(1, batch_size, figsize=(15, 5))
for ax, caption, url in zip(axes, captions, urls):
    img, note = dataset_image(data, 'train', url)
    if note:
        print(note)
    ax.imshow(img)
    ax.set_title(textwrap.fill(decode_captions(caption, data['idx_to_word']), 45), fontsize=9)
    ax.axis('off')
plt.show()

# %% [markdown]
# # Recurrent neural networks
#
# A captioning model is a language model that is told what the image shows.
# At every time step it reads one word and updates a hidden state; from the
# hidden state it scores every word of the vocabulary as the next word. The
# image enters through the first hidden state.
#
# ## Vanilla RNN: step forward
#
# One step of a vanilla RNN takes the input `x` of this step, shape (N, D), and
# the previous hidden state `prev_h`, shape (N, H), and computes
#
# $$h_t = \tanh(x_t W_x + h_{t-1} W_h + b)$$
#
# with `Wx` of shape (D, H), `Wh` of shape (H, H) and `b` of shape (H,). The
# result has shape (N, H): one new hidden state per example.
#
# Implement `rnn_step_forward` in `cs231n/rnn_layers.py`; the error should be
# below 1e-8.

# %%
N, D, H = 3, 10, 4

x = np.linspace(-0.4, 0.7, num=N*D).reshape(N, D)
prev_h = np.linspace(-0.2, 0.5, num=N*H).reshape(N, H)
Wx = np.linspace(-0.1, 0.9, num=D*H).reshape(D, H)
Wh = np.linspace(-0.3, 0.7, num=H*H).reshape(H, H)
b = np.linspace(-0.2, 0.4, num=H)

next_h, _ = rnn_step_forward(x, prev_h, Wx, Wh, b)
expected_next_h = np.asarray([
  [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
  [ 0.66854692,  0.79562378,  0.87755553,  0.92795967],
  [ 0.97934501,  0.99144213,  0.99646691,  0.99854353]])

check('rnn_step_forward next_h', rel_error(expected_next_h, next_h), 1e-8,
      'Hint: both products are (N, D) @ (D, H) and (N, H) @ (H, H); the bias is added to every row.')

# %% [markdown]
# ## Vanilla RNN: step backward
#
# Write `a = x Wx + prev_h Wh + b` for the value inside the tanh. The derivative
# of tanh can be written with its own output: if $h = \tanh(a)$ then
# $dh/da = 1 - h^2$. So the backward pass needs no new tanh if the cache keeps
# `next_h`. Go back through the tanh first, to the gradient of `a` (N, H);
# then through the sum and the two products, as for an affine layer.
#
# A quick way to get every transpose right: each gradient has the shape of the
# thing it is the gradient of (`dWx` is (D, H), `dprev_h` is (N, H), `db` is
# (H,), summed over the minibatch). Implement `rnn_step_backward`; we compare it with
# a numerical gradient, and the errors should be below about 1e-8.

# %%
np.random.seed(231)
N, D, H = 4, 5, 6
x = np.random.randn(N, D)
h = np.random.randn(N, H)
Wx = np.random.randn(D, H)
Wh = np.random.randn(H, H)
b = np.random.randn(H)

out, cache = rnn_step_forward(x, h, Wx, Wh, b)
check_shape('rnn_step_forward next_h', out, (N, H))
dnext_h = np.random.randn(*out.shape)

fx = lambda x: rnn_step_forward(x, h, Wx, Wh, b)[0]
fh = lambda h: rnn_step_forward(x, h, Wx, Wh, b)[0]
fWx = lambda Wx: rnn_step_forward(x, h, Wx, Wh, b)[0]
fWh = lambda Wh: rnn_step_forward(x, h, Wx, Wh, b)[0]
fb = lambda b: rnn_step_forward(x, h, Wx, Wh, b)[0]

dx_num = eval_numerical_gradient_array(fx, x, dnext_h)
dprev_h_num = eval_numerical_gradient_array(fh, h, dnext_h)
dWx_num = eval_numerical_gradient_array(fWx, Wx, dnext_h)
dWh_num = eval_numerical_gradient_array(fWh, Wh, dnext_h)
db_num = eval_numerical_gradient_array(fb, b, dnext_h)

dx, dprev_h, dWx, dWh, db = rnn_step_backward(dnext_h, cache)

hint = ('Hint: go back through tanh first: da = dnext_h * (1 - next_h**2), with next_h the step\'s '
        'output (the same as 1 - tanh(a)**2 of the value a inside the tanh; 1 - tanh(x)**2 of the input x '
        'is wrong); then through x @ Wx and prev_h @ Wh.')
check('rnn_step_backward dx', rel_error(dx_num, dx), 1e-8, hint)
check('rnn_step_backward dprev_h', rel_error(dprev_h_num, dprev_h), 1e-8,
      hint + ' dprev_h (N, H) is da @ Wh.T: da @ Wh has the same shape, so only its values show it.')
check('rnn_step_backward dWx', rel_error(dWx_num, dWx), 1e-8,
      'Hint: dWx (D, H) pairs x (N, D) with the gradient through tanh (N, H), summed over the minibatch.')
check('rnn_step_backward dWh', rel_error(dWh_num, dWh), 1e-8,
      'Hint: dWh (H, H) pairs prev_h (N, H) with the gradient through tanh (N, H), summed over the '
      'minibatch; a transposed dWh has the same shape, so only its values show it.')
check('rnn_step_backward db', rel_error(db_num, db), 1e-8, 'Hint: db sums da over the minibatch (axis 0).')

# %% [markdown]
# ## Vanilla RNN: forward over a sequence
#
# Now run the step over a whole sequence. The input `x` has shape (N, T, D):
# N sequences of T vectors of size D. Starting from `h0` (N, H), apply the step
# T times, each time feeding in the state of the previous step, and return all
# T hidden states as `h` of shape (N, T, H).
#
# The plainest way is a loop that calls `rnn_step_forward` at every step. One
# part of the step does not depend on the previous state at all: the input
# projection `x_t Wx`. For all steps at once it is one matrix multiply,
# `x.reshape(N*T, D) @ Wx`, of shape (N*T, H). One large multiply is much
# faster than T small ones, so the reference implementation does that before
# the loop, and keeps only `h_{t-1} Wh` inside it (that part really must wait
# for the previous step). Either way is correct here; the error should be
# below 1e-7.

# %%
N, T, D, H = 2, 3, 4, 5

x = np.linspace(-0.1, 0.3, num=N*T*D).reshape(N, T, D)
h0 = np.linspace(-0.3, 0.1, num=N*H).reshape(N, H)
Wx = np.linspace(-0.2, 0.4, num=D*H).reshape(D, H)
Wh = np.linspace(-0.4, 0.1, num=H*H).reshape(H, H)
b = np.linspace(-0.7, 0.1, num=H)

h, _ = rnn_forward(x, h0, Wx, Wh, b)
expected_h = np.asarray([
  [
    [-0.42070749, -0.27279261, -0.11074945,  0.05740409,  0.22236251],
    [-0.39525808, -0.22554661, -0.0409454,   0.14649412,  0.32397316],
    [-0.42305111, -0.24223728, -0.04287027,  0.15997045,  0.35014525],
  ],
  [
    [-0.55857474, -0.39065825, -0.19198182,  0.02378408,  0.23735671],
    [-0.27150199, -0.07088804,  0.13562939,  0.33099728,  0.50158768],
    [-0.51014825, -0.30524429, -0.06755202,  0.17806392,  0.40333043]]])

check_shape('rnn_forward h', h, (N, T, H))
check('rnn_forward h', rel_error(expected_h, h), 1e-7,
      'Hint: feed the state of step t into step t+1; h[:, t, :] is the state after step t.')

# %% [markdown]
# ## Vanilla RNN: backward over a sequence
#
# `dh` (N, T, H) holds the gradient the loss sends to each hidden state
# directly, at each step. A hidden state also feeds the next step, so the total
# gradient of `h_t` is `dh[:, t]` plus the `dprev_h` coming back from step
# t+1. Walk the steps backwards, from T-1 to 0, carrying `dprev_h`; the weights
# are shared by all steps, so their gradients add up over the steps. What
# comes out of step 0 as `dprev_h` is `dh0`. The errors should be below about
# 1e-6.

# %%
np.random.seed(231)

N, D, T, H = 2, 3, 10, 5

x = np.random.randn(N, T, D)
h0 = np.random.randn(N, H)
Wx = np.random.randn(D, H)
Wh = np.random.randn(H, H)
b = np.random.randn(H)

out, cache = rnn_forward(x, h0, Wx, Wh, b)
check_shape('rnn_forward h', out, (N, T, H))
dout = np.random.randn(*out.shape)
dx, dh0, dWx, dWh, db = rnn_backward(dout.copy(), cache)   # a copy: your pass may add into dh in place

fx = lambda x: rnn_forward(x, h0, Wx, Wh, b)[0]
fh0 = lambda h0: rnn_forward(x, h0, Wx, Wh, b)[0]
fWx = lambda Wx: rnn_forward(x, h0, Wx, Wh, b)[0]
fWh = lambda Wh: rnn_forward(x, h0, Wx, Wh, b)[0]
fb = lambda b: rnn_forward(x, h0, Wx, Wh, b)[0]

dx_num = eval_numerical_gradient_array(fx, x, dout)
dh0_num = eval_numerical_gradient_array(fh0, h0, dout)
dWx_num = eval_numerical_gradient_array(fWx, Wx, dout)
dWh_num = eval_numerical_gradient_array(fWh, Wh, dout)
db_num = eval_numerical_gradient_array(fb, b, dout)

hint = 'Hint: at step t the upstream gradient is dh[:, t] (dout here) + the dprev_h of step t+1.'
check('rnn_backward dx', rel_error(dx_num, dx), 1e-6, hint)
check('rnn_backward dh0', rel_error(dh0_num, dh0), 1e-6, hint)
check('rnn_backward dWx', rel_error(dWx_num, dWx), 1e-6, 'Hint: add up dWx over all steps.')
check('rnn_backward dWh', rel_error(dWh_num, dWh), 1e-6, 'Hint: add up dWh over all steps.')
check('rnn_backward db', rel_error(db_num, db), 1e-6, 'Hint: add up db over all steps.')

# %% [markdown]
# ## Word embedding: forward
#
# Networks work with vectors, so every word id becomes a vector of size W, a
# row of the matrix `W_embed` (V, W) that is learned with the rest of the model.
#
# A worked example. Take a vocabulary of four words, `cats`=0, `dogs`=1,
# `elephants`=2, `eat`=3 (so V = 4), and two sentences of three words (N = 2,
# T = 3): "cats eat dogs" and "dogs eat cats". As ids they are the array
# `x = [[0, 3, 1], [1, 3, 0]]`, shape (2, 3). With word vectors of size 2 the
# matrix `W` has shape (4, 2), say rows `cats`: (2, 3), `dogs`: (3, 2),
# `elephants`: (1, 4), `eat`: (-2, -3). Looking up every id gives an array of
# shape (2, 3, 2): the first sentence becomes (2, 3), (-2, -3), (3, 2). The
# cell below does it one position at a time; your function can do all of them
# in one numpy expression (read up on integer-array indexing).

# %%
toy_W = np.array([[2, 3], [3, 2], [1, 4], [-2, -3]])
toy_x = np.array([[0, 3, 1], [1, 3, 0]])
toy_out = np.array([[toy_W[word] for word in sentence] for sentence in toy_x])
print('toy x', toy_x.shape, '-> embedded', toy_out.shape)
print(toy_out[0].tolist())

# %% [markdown]
# Implement `word_embedding_forward`. The expected values below are printed to
# 8 decimals, so a correct lookup is within half a unit of the 8th decimal of
# each one: we check the largest absolute difference.

# %%
N, T, V, D = 2, 4, 5, 3

x = np.asarray([[0, 3, 1, 2], [2, 1, 0, 3]])
W = np.linspace(0, 1, num=V*D).reshape(V, D)

out, _ = word_embedding_forward(x, W)
expected_out = np.asarray([
 [[ 0.,          0.07142857,  0.14285714],
  [ 0.64285714,  0.71428571,  0.78571429],
  [ 0.21428571,  0.28571429,  0.35714286],
  [ 0.42857143,  0.5,         0.57142857]],
 [[ 0.42857143,  0.5,         0.57142857],
  [ 0.21428571,  0.28571429,  0.35714286],
  [ 0.,          0.07142857,  0.14285714],
  [ 0.64285714,  0.71428571,  0.78571429]]])

check_shape('word_embedding_forward out', out, (N, T, D))
check('word_embedding_forward out (max abs difference)', np.abs(expected_out - out).max(), 5e-9,
      'Hint: out[n, t] is the row W[x[n, t]].')

# %% [markdown]
# ## Word embedding: backward
#
# There is no gradient for the ids themselves (they are integers), only for
# `W`. Row `v` of `dW` is the sum of `dout[n, t]` over every position where
# word `v` occurs, and a word can occur many times in a minibatch. Careful:
# `dW[x] += dout` does **not** add up repeated ids (numpy writes each index
# once); look up `np.add.at`, which does. The error should be below about 1e-11.

# %%
np.random.seed(231)

N, T, V, D = 50, 3, 5, 6
x = np.random.randint(V, size=(N, T))
W = np.random.randn(V, D)

out, cache = word_embedding_forward(x, W)
check_shape('word_embedding_forward out', out, (N, T, D))
dout = np.random.randn(*out.shape)
dW = word_embedding_backward(dout.copy(), cache)

f = lambda W: word_embedding_forward(x, W)[0]
dW_num = eval_numerical_gradient_array(f, W, dout)

check('word_embedding_backward dW', rel_error(dW_num, dW), 1e-11,
      'Hint: repeated word ids must add up: use np.add.at, not dW[x] += dout.')

# %% [markdown]
# ## Temporal affine layer
#
# At every step the hidden state (size H) becomes a score for every word of the
# vocabulary (size V) through an affine map. Applying it to all N*T hidden
# states at once is the same trick as before: reshape (N, T, H) to (N*T, H),
# multiply, reshape back. This layer is given in `cs231n/rnn_layers.py`; the
# check below confirms its gradient (errors below about 1e-9).

# %%
np.random.seed(231)

N, T, D, M = 2, 3, 4, 5
x = np.random.randn(N, T, D)
w = np.random.randn(D, M)
b = np.random.randn(M)

out, cache = temporal_affine_forward(x, w, b)
dout = np.random.randn(*out.shape)

fx = lambda x: temporal_affine_forward(x, w, b)[0]
fw = lambda w: temporal_affine_forward(x, w, b)[0]
fb = lambda b: temporal_affine_forward(x, w, b)[0]

dx_num = eval_numerical_gradient_array(fx, x, dout)
dw_num = eval_numerical_gradient_array(fw, w, dout)
db_num = eval_numerical_gradient_array(fb, b, dout)

dx, dw, db = temporal_affine_backward(dout, cache)

check('temporal_affine_backward dx', rel_error(dx_num, dx), 1e-9)
check('temporal_affine_backward dw', rel_error(dw_num, dw), 1e-9)
check('temporal_affine_backward db', rel_error(db_num, db), 1e-9)

# %% [markdown]
# ## Temporal softmax loss
#
# At every step the model predicts the next word, and the softmax loss says how
# much probability it gave to the right one. The loss of a caption is the sum
# over its steps; the loss of a minibatch is the average over its captions.
#
# Captions have different lengths, and the short ones are padded with `<NULL>`
# to a common length T. Predicting the padding would teach the model nothing,
# so a boolean `mask` (N, T) says which positions count: only where the target
# is a real word (or `<END>`). Masked positions add nothing to the loss and get
# zero gradient. This function is given; run the sanity check. With tiny random
# scores every one of V = 10 words is about equally likely, so each counted
# step costs about log(10) = 2.3.

# %%
np.random.seed(231)

def check_loss(N, T, V, p):
    x = 0.001 * np.random.randn(N, T, V)
    y = np.random.randint(V, size=(N, T))
    mask = np.random.rand(N, T) <= p
    return temporal_softmax_loss(x, y, mask)[0]

for (N, T, V, p), expected in [((100, 1, 10, 1.0), 2.3), ((100, 10, 10, 1.0), 23.0),
                               ((5000, 10, 10, 0.1), 2.3)]:
    loss = check_loss(N, T, V, p)
    assert abs(loss - expected) < 0.1 * expected, f'loss {loss:.3f} should be about {expected}'
    print(f'loss with N={N}, T={T}, mask rate {p}: {loss:.1f} (about {expected})')

# Gradient check
N, T, V = 7, 8, 9
x = np.random.randn(N, T, V)
y = np.random.randint(V, size=(N, T))
mask = (np.random.rand(N, T) > 0.5)

loss, dx = temporal_softmax_loss(x, y, mask, verbose=False)
dx_num = eval_numerical_gradient(lambda x: temporal_softmax_loss(x, y, mask)[0], x, verbose=False)
check('temporal_softmax_loss dx', rel_error(dx_num, dx), 1e-7)

# %% [markdown]
# # The captioning model
#
# `CaptioningRNN` in `cs231n/classifiers/rnn.py` joins the layers:
#
# 1. project the image features (N, D) to the initial hidden state `h0` (N, H)
#    with an affine map (`W_proj`, `b_proj`);
# 2. embed the input words (N, T) into vectors (N, T, W) with `W_embed`;
# 3. run the RNN over them: hidden states (N, T, H);
# 4. score the vocabulary at every step with a temporal affine layer (N, T, V);
# 5. softmax loss against the targets, ignoring `<NULL>` positions.
#
# The input and the target are the same caption shifted by one word:
# the network reads `captions[:, :-1]`, which starts with `<START>`, and must
# predict `captions[:, 1:]`, which ends with `<END>`. For example, to learn
# "`<START>` a red circle `<END>`", it reads `<START>`, a, red, circle and
# must answer a, red, circle, `<END>`.
#
# Implement `CaptioningRNN.loss` (for `cell_type='rnn'`), then backpropagate
# through the same layers in reverse order. The loss should match to about
# 1e-10.

# %%
N, D, W, H = 10, 20, 30, 40
word_to_idx = {'<NULL>': 0, 'cat': 2, 'dog': 3}
V = len(word_to_idx)
T = 13

model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H,
                      cell_type='rnn', dtype=np.float64)

# Set all model parameters to fixed values
for k, v in model.params.items():
    model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)

features = np.linspace(-1.5, 0.3, num=(N * D)).reshape(N, D)
captions = (np.arange(N * T) % V).reshape(N, T)

loss, grads = model.loss(features, captions)
expected_loss = 9.83235591003

check('CaptioningRNN.loss', abs(loss - expected_loss), 1e-10,
      f'Your loss is {loss}, expected {expected_loss}. Hint: feed captions[:, :-1], predict '
      'captions[:, 1:], mask where the target is <NULL>.')

# %% [markdown]
# Now a numerical gradient check of the whole model, in float64 on a tiny
# example. Every relative error should be about 1e-6 or less.

# %%
np.random.seed(231)

batch_size = 2
timesteps = 3
input_dim = 4
wordvec_dim = 5
hidden_dim = 6
word_to_idx = {'<NULL>': 0, 'cat': 2, 'dog': 3}
vocab_size = len(word_to_idx)

captions = np.random.randint(vocab_size, size=(batch_size, timesteps))
features = np.random.randn(batch_size, input_dim)

model = CaptioningRNN(word_to_idx, input_dim=input_dim, wordvec_dim=wordvec_dim,
                      hidden_dim=hidden_dim, cell_type='rnn', dtype=np.float64)

# every parameter's gradient against a numerical one (cs231n/gradient_check.py),
# with steps of h = 1e-5: with h = 1e-6, the rounding of the loss alone gives dWx
# relative errors of 5e-7 to 9e-7 for correct implementations, too near 1e-6
errors = model_gradient_errors(model, features, captions, rel_error, h=1e-5)
for param_name, err in errors.items():
    check(f'CaptioningRNN grad {param_name}', err, 1e-6, 'Hint: ' + CAPTIONING_GRAD_PATHS[param_name])

# %% [markdown]
# ## Overfit a small dataset
#
# A model that works should be able to memorise a few captions. We train on 50
# captions for 100 iterations with Adam; the loss should fall from about 50 to
# almost nothing. The solver prints the loss every 10 iterations, and the curve
# is plotted below. The exact numbers change from machine to machine, so only
# a bound is checked: the assignment asks for a final loss below 0.1 on COCO.
# On the offline set, many pictures look almost the same to the CNN (a red
# circle here, a red disk there) while their captions use different words, so
# after these 100 iterations the loss levels off around 0.1 to 0.2; the check
# there is below 0.25. A wrong gradient leaves the loss far higher.

# %% tags=["nbval-ignore-output"]
np.random.seed(231)

small_data = load_coco_data(max_train=50)

small_rnn_model = CaptioningRNN(
    cell_type='rnn',
    word_to_idx=data['word_to_idx'],
    input_dim=data['train_features'].shape[1],
    hidden_dim=512,
    wordvec_dim=256,
)

small_rnn_solver = CaptioningSolver(
    small_rnn_model, small_data,
    update_rule='adam',
    num_epochs=50,
    batch_size=25,
    optim_config={'learning_rate': 5e-3},
    lr_decay=0.95,
    verbose=True, print_every=10,
)

small_rnn_solver.train()

plt.figure(figsize=(8, 4))
plt.plot(small_rnn_solver.loss_history)
plt.xlabel('Iteration')
plt.ylabel('Loss')
plt.yscale('log')
plt.title('Training loss history')
plt.show()

# %%
assert small_rnn_solver.loss_history, 'the training above did not run: fix the error it stopped with first'
final_loss = small_rnn_solver.loss_history[-1]
if ON_OFFLINE_SET:
    assert final_loss < 0.25, f'final loss {final_loss:.3f} should be below 0.25: check the model loss and its gradients'
    print('PASS overfitting: final loss below 0.25')
else:
    print('NOTE: the bound is checked on the offline set only; final loss here: %.3f. How low it '
          'gets depends on the data (differing captions of one image cannot all be memorised); '
          'the assignment expects below 0.1 on the full COCO data.' % final_loss)

# %% [markdown]
# ## Test-time sampling
#
# At test time there is no caption to read. The model starts from `<START>`,
# picks the most likely word, feeds that word back in as the next input, and
# so on until it says `<END>` (or reaches `max_length`). Implement
# `CaptioningRNN.sample` with this greedy loop: use the single-step function
# and keep the hidden state between steps. It returns an integer array
# (N, max_length) whose column 0 is the first generated word (not `<START>`);
# once a caption has said `<END>`, the rest of its row is `<NULL>` (the
# original assignment keeps generating there; the checks below expect
# `<NULL>`).
#
# On the training captions the overfitted model should repeat what it
# memorised. On validation images it has never seen, it cannot do well: 50
# captions are far too few to learn anything general.

# %% tags=["nbval-ignore-output"]
np.random.seed(231)
for split in ['train', 'val']:
    gt_captions, features, urls = sample_coco_minibatch(small_data, split=split, batch_size=2)
    gt_captions = decode_captions(gt_captions, data['idx_to_word'])

    ### BEGIN SOLUTION
    sample_captions = small_rnn_model.sample(features)
    sample_captions = decode_captions(sample_captions, data['idx_to_word'])
    ### END SOLUTION

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, gt_caption, sample_caption, url in zip(axes, gt_captions, sample_captions, urls):
        img, note = dataset_image(small_data, split, url)
        if note:
            print(note)
        ax.imshow(img)
        ax.set_title('\n'.join([split] + [textwrap.fill(c, 55) for c in (sample_caption, 'GT: ' + gt_caption)]),
                     fontsize=9)
        ax.axis('off')
    plt.show()

# %%
# The sampled array: first column is the first generated word, <NULL> after <END>
caps = small_rnn_model.sample(small_data['train_features'][:5], max_length=20)
assert caps.shape == (5, 20), f'sample should return shape (N, max_length) = (5, 20), not {caps.shape}'
end = small_data['word_to_idx']['<END>']
for row in caps:
    hit = np.flatnonzero(row == end)
    assert len(hit) == 0 or (row[hit[0] + 1:] == 0).all(), 'after <END> a caption must hold only <NULL>'
assert (caps[:, 0] != small_data['word_to_idx']['<START>']).all(), 'column 0 is the first generated word, not <START>'
print('PASS sample: shape (N, max_length), first word in column 0, <NULL> after <END>')

# %% [markdown]
# The check above looks at the form of the result. This one checks the words:
# a tiny model with fixed random weights, whose greedy captions were computed
# once with a correct implementation. The three captions end at different
# steps, and the last one runs to `max_length` without an `<END>`.

# %%
# the captions of a tiny rnn model with weights from np.random.seed(552) (cs231n/checks.py)
expected_caps = np.array([[3, 7, 5, 2, 0, 0], [7, 5, 2, 0, 0, 0], [5, 3, 4, 4, 4, 5]])
check_tiny_sample('rnn', 552, expected_caps,
                  'start from <START>, feed each step the word picked at the step before, and '
                  'carry the hidden state from step to step.')

# %% [markdown]
# ## Inline question 1
#
# This model reads and writes one word per step, from a vocabulary of about a
# thousand words. A captioning model could work on characters instead: its
# vocabulary would be the letters, digits, space and punctuation, and a caption
# a sequence of characters. Give one advantage and one disadvantage of such a
# character-level model compared with this word-level one.
#
# Answer in the cell below (double-click it to edit). It is part of what you
# hand in, and your instructor reads it.

# %% [markdown] tags=["inline-answer"]
# **Your answer:** *write it here*
# <!-- BEGIN SOLUTION -->
# **Model answer** (in the instructor's notebooks only; the student version
# leaves it out). One good point of each kind answers the question, for
# example:
#
# - *Advantage:* the vocabulary is tiny (under a hundred symbols instead of
#   about a thousand words), so the embedding W_embed and the output layer
#   W_vocab shrink to a few rows, and there is no `<UNK>`: the model can spell
#   any word, rare names and numbers included, and can learn how words are
#   built (plurals, endings) from their letters.
# - *Disadvantage:* a caption becomes about five times as many steps (a
#   ten-word caption is some 50 characters). Training and sampling take more
#   steps, and the gradient has to travel back over many more of them, so
#   the dependencies between words are harder to learn: a vanilla RNN's
#   gradient vanishes or explodes over long sequences. The model can also
#   write words that do not exist.
# <!-- END SOLUTION -->

# %% [markdown]
# # Going further: train on the whole offline set
#
# Memorising 50 captions says the code is right, not that the model can
# describe new images. Let's train the same model on every training caption
# of the dataset for a short while and look at images from the validation
# split, which it never
# saw. We also score the validation captions with BLEU, the standard measure
# for this task: the fraction of the generated 1-, 2-, 3- and 4-word sequences
# that also appear in one of the image's reference captions (BLEU-4 combines
# all four, and penalises captions shorter than the references). 1 is a
# perfect match, 0 no overlap at all. Measured on a two-core machine, this
# run reaches a validation BLEU-4 of about 0.32 on the offline set (BLEU-1
# about 0.74); the check below asks for more than 0.25.
#
# How long it takes depends on your sequence layers. Measured on one two-core
# machine, the 1,600 iterations took about 8 s with the reference solution,
# 18 s with a plain loop over the step functions, and 50 s with a plain loop
# in which one `np.zeros(shape)` without `dtype=x.dtype` made the gradients,
# and then the whole model, float64 (the solver prints a Note when a gradient
# is not of its parameter's type). If yours is slow: keep float32 arrays
# float32, and project the inputs of all time steps with one matrix multiply
# before the loop.

# %% tags=["nbval-ignore-output"]
np.random.seed(231)
rnn_model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                          wordvec_dim=128, hidden_dim=256, cell_type='rnn')
rnn_solver = CaptioningSolver(rnn_model, data, update_rule='adam',
                              optim_config={'learning_rate': 5e-3}, lr_decay=0.9,
                              batch_size=100, num_epochs=8,
                              print_every=200)
t0 = time.time()
rnn_solver.train()
print(f'trained {len(rnn_solver.loss_history)} iterations in {time.time() - t0:.0f} s')

val_loss, _ = rnn_model.loss(data['val_features'][data['val_image_idxs']], data['val_captions'])
print(f'validation loss {val_loss:.2f} (training loss at the end {np.mean(rnn_solver.loss_history[-20:]):.2f})')

plt.figure(figsize=(8, 4))
plt.plot(rnn_solver.loss_history)
plt.xlabel('Iteration')
plt.ylabel('Loss')
plt.title('Training loss on the whole training set')
plt.show()

# %% tags=["nbval-ignore-output"]
from cs231n.bleu import evaluate_bleu

bleu = evaluate_bleu(rnn_model, data, split='val')
print('validation ' + ', '.join(f'{k} {v:.2f}' for k, v in bleu.items()))
if ON_OFFLINE_SET:
    assert bleu['BLEU-4'] > 0.25, f"BLEU-4 {bleu['BLEU-4']:.2f} should be above 0.25 after this training"
    print('PASS validation BLEU-4 above 0.25')
else:
    print('NOTE: the BLEU-4 bound is checked on the offline set only')

# %% tags=["nbval-ignore-output"]
np.random.seed(1)
pick = np.random.choice(len(data['val_urls']), 6, replace=False)
samples = decode_captions(rnn_model.sample(data['val_features'][pick]), data['idx_to_word'])
fig, axes = plt.subplots(2, 3, figsize=(15, 10))
for ax, i, caption in zip(axes.ravel(), pick, samples):
    img, note = dataset_image(data, 'val', i)
    if note:
        print(note)
    # one of the image's human captions, for comparison
    gt = decode_captions(data['val_captions'][np.flatnonzero(data['val_image_idxs'] == i)[:1]],
                         data['idx_to_word'])
    gt = gt[0].replace('<START>', '').replace('<END>', '').strip() if gt else '(none loaded)'
    ax.imshow(img)
    ax.set_title(textwrap.fill(caption.replace('<END>', '').strip(), 45) + '\n'
                 + textwrap.fill('GT: ' + gt, 45), fontsize=9)
    ax.axis('off')
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Explore the model
#
# Pick an image and a sampling strategy, and see the caption with the
# probability of each word (green: likely, red: unlikely). Try a beam width of
# 3 or 5, and temperatures below and above 1.

# %% tags=["nbval-ignore-output"]
from cs231n.widgets import CaptionExplorer
assert rnn_solver.loss_history, ('the training above did not run: fix the error it stopped with first '
                                 '(the explorer would show an untrained model)')
CaptionExplorer(rnn_model, data, split='val').show()
