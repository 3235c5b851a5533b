# %% [markdown]
# # Image captioning with an LSTM
#
# The vanilla RNN of the previous notebook works, but it has a weakness:
# during backpropagation the gradient is multiplied by `Wh` (and by a tanh
# derivative of at most 1) once per step. Over many steps such products tend
# to shrink towards zero or blow up, so the RNN has trouble learning how an
# early word affects a late one.
#
# A Long Short-Term Memory network (LSTM) keeps, besides the hidden state, a
# **cell state** that is changed only by element-wise operations: a little is
# forgotten, a little is written, at each step. Along the cell state the
# gradient flows back through multiplications by the forget gate alone, with no
# matrix in the way, which keeps it alive over long sequences.
#
# The shapes use the same letters as before: N minibatch, T steps, D input
# size, H hidden size, V vocabulary, W word vector size.

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
from cs231n.checks import (check_tiny_sample, check_shape, ShapeMismatch, failure_message, check_passed,
                           fail, lstm_gate_hint)
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
# The same data as in the RNN notebook: the offline set by default, or COCO if
# you fetched it (the first printed line says which).

# %% tags=["nbval-ignore-output"]
data = load_coco_data(pca_features=True)

# A few checks below hold only on the offline set; on other data they are skipped with a note.
from cs231n.coco_utils import default_base_dir, is_offline_set
ON_OFFLINE_SET = is_offline_set(default_base_dir(announce=False))

for k, v in data.items():
    if isinstance(v, np.ndarray):
        print(k, type(v), v.shape, v.dtype)
    else:
        print(k, type(v), len(v))

# %% [markdown]
# ## The LSTM update
#
# At each step the LSTM reads the input `x_t` (N, D), the previous hidden state
# `h_{t-1}` (N, H) and the previous cell state `c_{t-1}` (N, H). One affine map
# computes an activation vector of size 4H for each example:
#
# $$a = x_t W_x + h_{t-1} W_h + b, \qquad W_x: (D, 4H),\ W_h: (H, 4H),\ b: (4H,)$$
#
# Split `a` into four blocks of H columns, **in this order**, and pass them
# through their nonlinearities ($\sigma$ is the logistic sigmoid):
#
# | block | columns | gate | value |
# | --- | --- | --- | --- |
# | 1 | `a[:, 0:H]` | input gate | $i = \sigma(a_i)$: how much of the candidate to write |
# | 2 | `a[:, H:2H]` | forget gate | $f = \sigma(a_f)$: how much of the old cell to keep |
# | 3 | `a[:, 2H:3H]` | output gate | $o = \sigma(a_o)$: how much of the cell to show |
# | 4 | `a[:, 3H:4H]` | candidate | $g = \tanh(a_g)$: what could be written |
#
# Then, element-wise ($\odot$):
#
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
#
# A note on the sigmoid: `1 / (1 + np.exp(-x))` overflows for large negative
# `x`. `sigmoid` in `rnn_layers.py` is written so that it never does; use it.

# %% [markdown]
# ## LSTM: step forward
#
# Implement `lstm_step_forward`. The errors should be below about 1e-8.

# %%
N, D, H = 3, 4, 5
x = np.linspace(-0.4, 1.2, num=N*D).reshape(N, D)
prev_h = np.linspace(-0.3, 0.7, num=N*H).reshape(N, H)
prev_c = np.linspace(-0.4, 0.9, num=N*H).reshape(N, H)
Wx = np.linspace(-2.1, 1.3, num=4*D*H).reshape(D, 4 * H)
Wh = np.linspace(-0.7, 2.2, num=4*H*H).reshape(H, 4 * H)
b = np.linspace(0.3, 0.7, num=4*H)

next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)

expected_next_h = np.asarray([
    [ 0.24635157,  0.28610883,  0.32240467,  0.35525807,  0.38474904],
    [ 0.49223563,  0.55611431,  0.61507696,  0.66844003,  0.7159181 ],
    [ 0.56735664,  0.66310127,  0.74419266,  0.80889665,  0.858299  ]])
expected_next_c = np.asarray([
    [ 0.32986176,  0.39145139,  0.451556,    0.51014116,  0.56717407],
    [ 0.66382255,  0.76674007,  0.87195994,  0.97902709,  1.08751345],
    [ 0.74192008,  0.90592151,  1.07717006,  1.25120233,  1.42395676]])

check('lstm_step_forward next_c', rel_error(expected_next_c, next_c), 1e-8,
      'Hint: the gates are the columns of a in the order i, f, o, g, with sigmoid for i, f, o and tanh '
      'for g (of the four, only g uses tanh); next_c = f * prev_c + i * g.')
check('lstm_step_forward next_h', rel_error(expected_next_h, next_h), 1e-8,
      'Hint: next_c is right, and with it i, f and g: next_h = o * tanh(next_c), with o the sigmoid of '
      'the third block of a.')

# Large inputs: 1 / (1 + np.exp(-x)) overflows for large negative x. Its result
# is still right (1 / inf is 0), but every call warns; other ways give NaN.
with np.errstate(all='ignore'):
    big_h, big_c, _ = lstm_step_forward(1e3 * x, prev_h, prev_c, Wx, Wh, b)
if not (np.isfinite(big_h).all() and np.isfinite(big_c).all()):
    fail('lstm_step_forward large inputs', 'next_h or next_c is not finite for large inputs (x * 1000): '
         'use the given stable sigmoid of rnn_layers.py.')
check_passed('lstm_step_forward large inputs')
print('PASS lstm_step_forward large inputs: finite')
with np.errstate(over='raise'):
    try:
        lstm_step_forward(1e3 * x, prev_h, prev_c, Wx, Wh, b)
    except FloatingPointError as e:
        print(f'NOTE: for large inputs numpy says "{e}": the results are right, but training will print '
              'that warning; the given sigmoid of rnn_layers.py never overflows.')

# %% [markdown]
# ## LSTM: step backward
#
# Work backwards through the same equations. Two things are easy to miss:
#
# * `next_c` reaches the loss two ways: directly (through `dnext_c`, from the
#   next step) and through `next_h = o * tanh(next_c)`. Its gradient is the
#   sum of the two.
# * The derivatives of the gate nonlinearities can be written with their
#   outputs: $\sigma'(z) = \sigma(z)(1 - \sigma(z))$ and
#   $\tanh'(z) = 1 - \tanh(z)^2$. Keep `i, f, o, g` and `tanh(next_c)` in the
#   cache.
#
# Put the four gate gradients back together in the order i, f, o, g to get
# `da` (N, 4H); the rest is the same as for the vanilla RNN. The errors should
# be below about 1e-7.

# %%
np.random.seed(231)

N, D, H = 4, 5, 6
x = np.random.randn(N, D)
prev_h = np.random.randn(N, H)
prev_c = np.random.randn(N, H)
Wx = np.random.randn(D, 4 * H)
Wh = np.random.randn(H, 4 * H)
b = np.random.randn(4 * H)

next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
check_shape('lstm_step_forward next_h', next_h, (N, H))
check_shape('lstm_step_forward next_c', next_c, (N, H))

dnext_h = np.random.randn(*next_h.shape)
dnext_c = np.random.randn(*next_c.shape)

# Each input affects both outputs: check the gradient of h and of c, then add them.
fx_h = lambda x: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[0]
fh_h = lambda h: lstm_step_forward(x, h, prev_c, Wx, Wh, b)[0]
fc_h = lambda c: lstm_step_forward(x, prev_h, c, Wx, Wh, b)[0]
fWx_h = lambda Wx: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[0]
fWh_h = lambda Wh: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[0]
fb_h = lambda b: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[0]

fx_c = lambda x: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[1]
fh_c = lambda h: lstm_step_forward(x, h, prev_c, Wx, Wh, b)[1]
fc_c = lambda c: lstm_step_forward(x, prev_h, c, Wx, Wh, b)[1]
fWx_c = lambda Wx: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[1]
fWh_c = lambda Wh: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[1]
fb_c = lambda b: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[1]

num_grad = eval_numerical_gradient_array

dx_num = num_grad(fx_h, x, dnext_h) + num_grad(fx_c, x, dnext_c)
dh_num = num_grad(fh_h, prev_h, dnext_h) + num_grad(fh_c, prev_h, dnext_c)
dc_num = num_grad(fc_h, prev_c, dnext_h) + num_grad(fc_c, prev_c, dnext_c)
dWx_num = num_grad(fWx_h, Wx, dnext_h) + num_grad(fWx_c, Wx, dnext_c)
dWh_num = num_grad(fWh_h, Wh, dnext_h) + num_grad(fWh_c, Wh, dnext_c)
db_num = num_grad(fb_h, b, dnext_h) + num_grad(fb_c, b, dnext_c)

dx, dh, dc, dWx, dWh, db = lstm_step_backward(dnext_h, dnext_c, cache)

hint = ('Hint: dc gets dnext_c plus the path through next_h = o * tanh(next_c); each gate then goes '
        'back through its sigmoid or tanh into the (N, 4H) gradient of the pre-activations, gates in '
        'the order i, f, o, g, and that through x @ Wx and prev_h @ Wh.')
hint = lstm_gate_hint(db_num, db, hint)   # which gates are wrong, from db (cs231n/checks.py)
check('lstm_step_backward dx', rel_error(dx_num, dx), 1e-7, hint)
check('lstm_step_backward dh', rel_error(dh_num, dh), 1e-7, hint)
check('lstm_step_backward dc', rel_error(dc_num, dc), 1e-7, 'Hint: dprev_c = dc * f.')
check('lstm_step_backward dWx', rel_error(dWx_num, dWx), 1e-7,
      'Hint: dWx (D, 4H) pairs x (N, D) with the gradient of the pre-activations (N, 4H), summed over '
      'the minibatch.')
check('lstm_step_backward dWh', rel_error(dWh_num, dWh), 1e-7,
      'Hint: dWh (H, 4H) pairs prev_h (N, H) with the gradient of the pre-activations (N, 4H), summed '
      'over the minibatch.')
check('lstm_step_backward db', rel_error(db_num, db), 1e-7,
      'Hint: db (4H,) sums the gradient of the pre-activations over the minibatch.')

# %% [markdown]
# ## LSTM: forward over a sequence
#
# Implement `lstm_forward`: the step over T time steps, starting from the given
# `h0` and from a cell state of zeros (the cell state is internal: it is not an
# input and not an output). As for the RNN, the input projection `x Wx` of all
# steps can be done before the loop in one matrix multiply. The error should be
# below about 1e-7.

# %%
N, D, H, T = 2, 5, 4, 3
x = np.linspace(-0.4, 0.6, num=N*T*D).reshape(N, T, D)
h0 = np.linspace(-0.4, 0.8, num=N*H).reshape(N, H)
Wx = np.linspace(-0.2, 0.9, num=4*D*H).reshape(D, 4 * H)
Wh = np.linspace(-0.3, 0.6, num=4*H*H).reshape(H, 4 * H)
b = np.linspace(0.2, 0.7, num=4*H)

h, cache = lstm_forward(x, h0, Wx, Wh, b)

expected_h = np.asarray([
 [[ 0.01764008,  0.01823233,  0.01882671,  0.0194232 ],
  [ 0.11287491,  0.12146228,  0.13018446,  0.13902939],
  [ 0.31358768,  0.33338627,  0.35304453,  0.37250975]],
 [[ 0.45767879,  0.4761092,   0.4936887,   0.51041945],
  [ 0.6704845,   0.69350089,  0.71486014,  0.7346449 ],
  [ 0.81733511,  0.83677871,  0.85403753,  0.86935314]]])

check_shape('lstm_forward h', h, (N, T, H))
check('lstm_forward h', rel_error(expected_h, h), 1e-7,
      'Hint: the cell state starts as zeros of shape (N, H), and the next_c of each step is the prev_c '
      'of the next: carry both h and c through the loop.')

# %% [markdown]
# ## LSTM: backward over a sequence
#
# Walk the steps backwards carrying two gradients, `dprev_h` and `dprev_c`.
# The gradient of the hidden state at step t is `dh[:, t] + dprev_h`; the
# gradient of the cell state comes only from the next step. The errors should
# be below about 1e-7, except for `dWh`: a few of its entries are close to zero,
# where the numerical gradient's own rounding noise (about 1e-10) is a large
# part of the value, so its relative error is around 1e-6 even for a correct
# implementation. A wrong `dWh` is off by far more than that.

# %%
np.random.seed(231)

N, D, T, H = 2, 3, 10, 6

x = np.random.randn(N, T, D)
h0 = np.random.randn(N, H)
Wx = np.random.randn(D, 4 * H)
Wh = np.random.randn(H, 4 * H)
b = np.random.randn(4 * H)

out, cache = lstm_forward(x, h0, Wx, Wh, b)
check_shape('lstm_forward h', out, (N, T, H))

dout = np.random.randn(*out.shape)

dx, dh0, dWx, dWh, db = lstm_backward(dout.copy(), cache)   # a copy: your pass may add into dh in place

fx = lambda x: lstm_forward(x, h0, Wx, Wh, b)[0]
fh0 = lambda h0: lstm_forward(x, h0, Wx, Wh, b)[0]
fWx = lambda Wx: lstm_forward(x, h0, Wx, Wh, b)[0]
fWh = lambda Wh: lstm_forward(x, h0, Wx, Wh, b)[0]
fb = lambda b: lstm_forward(x, h0, Wx, Wh, b)[0]

dx_num = eval_numerical_gradient_array(fx, x, dout)
dh0_num = eval_numerical_gradient_array(fh0, h0, dout)
dWx_num = eval_numerical_gradient_array(fWx, Wx, dout)
dWh_num = eval_numerical_gradient_array(fWh, Wh, dout)
db_num = eval_numerical_gradient_array(fb, b, dout)

hint = ('Hint: walk the steps from T-1 down to 0; at step t the upstream gradient is dh[:, t] (dout '
        'here) + the dprev_h of step t+1, and dprev_c is carried back too; the last step starts with '
        'dprev_c = 0.')
check('lstm_backward dx', rel_error(dx_num, dx), 1e-7, hint)
check('lstm_backward dh0', rel_error(dh0_num, dh0), 1e-7, hint)
check('lstm_backward dWx', rel_error(dWx_num, dWx), 1e-7, 'Hint: add up dWx over all steps.')
check('lstm_backward dWh', rel_error(dWh_num, dWh), 1e-5, 'Hint: add up dWh over all steps.')
check('lstm_backward db', rel_error(db_num, db), 1e-7, 'Hint: add up db over all steps.')

# %% [markdown]
# ## Inline question
#
# The input, forget and output gates i, f and o are sigmoids of their
# pre-activations. Why not use ReLU for them instead? Explain.
#
# Answer in the cell below (double-click it to edit). It is part of what you
# hand in, and your instructor reads it.

# %% [markdown] tags=["inline-answer"]
# **Your answer:** *write it here*
# <!-- BEGIN SOLUTION -->
# **Model answer** (in the instructor's notebooks only; the student version
# leaves it out). A gate multiplies what it controls (c = f * prev_c + i * g,
# h = o * tanh(c)), so it has to act as a soft switch whose value lies
# between 0 (block) and 1 (let through). A sigmoid is bounded to (0, 1) and
# has a nonzero gradient everywhere. ReLU is neither:
#
# - it is unbounded: a forget gate above 1 multiplies the cell state by more
#   than 1 at every step, so c (and its gradient) can grow without limit over
#   a long sequence, which is the exploding behaviour the LSTM is built to
#   avoid;
# - it is exactly 0, with zero gradient, for every negative pre-activation: a
#   gate pushed there is shut and gets no gradient to learn to open again.
# <!-- END SOLUTION -->

# %% [markdown]
# # The LSTM captioning model
#
# Add the `'lstm'` case to `CaptioningRNN.loss` and `CaptioningRNN.sample`:
# the only change is which recurrent layer runs (and, when sampling, the cell
# state to carry from step to step). The loss should match to about 1e-10.

# %%
N, D, W, H = 10, 20, 30, 40
word_to_idx = {'<NULL>': 0, 'cat': 2, 'dog': 3}
V = len(word_to_idx)
T = 13

model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H,
                      cell_type='lstm', dtype=np.float64)

# Set all model parameters to fixed values
for k, v in model.params.items():
    model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)

features = np.linspace(-0.5, 1.7, num=N*D).reshape(N, D)
captions = (np.arange(N * T) % V).reshape(N, T)

loss, grads = model.loss(features, captions)
expected_loss = 9.82445935443

check('CaptioningRNN(lstm).loss', abs(loss - expected_loss), 1e-10,
      f"Your loss is {loss}, expected {expected_loss}. Hint: with cell_type='lstm' use lstm_forward / lstm_backward; the rest is as for the RNN: feed "
      "captions[:, :-1], predict captions[:, 1:], mask where the target is <NULL>.")

# %% [markdown]
# And its gradients, against numerical ones, as for the RNN, with one change:
# some of the LSTM model's gradient entries are close to zero, and there the
# elementwise relative error of `rel_error` measures the rounding of the
# numerical gradient rather than your code (it reaches 1e-5 to 1e-4 for a
# correct implementation). So this check divides the largest difference by
# the largest gradient entry instead: about 1e-8 when the gradient is right,
# close to 1 when a part of it is missing or wrong.

# %%
# a smaller model than above (the cell stands on its own: the grader runs it alone)
np.random.seed(231)
N, T, D, W, H = 2, 3, 4, 5, 6
word_to_idx = {'<NULL>': 0, 'cat': 2, 'dog': 3}
captions = np.random.randint(len(word_to_idx), size=(N, T))
features = np.random.randn(N, D)
model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H,
                      cell_type='lstm', dtype=np.float64)

def scaled_error(x, y):
    """Largest difference between two arrays, relative to their largest entry."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return ShapeMismatch(expected=x.shape, got=y.shape)
    return np.max(np.abs(x - y)) / max(1e-8, np.max(np.abs(x) + np.abs(y)))

# every parameter's gradient against a numerical one (cs231n/gradient_check.py)
errors = model_gradient_errors(model, features, captions, scaled_error)
for param_name, err in errors.items():
    check(f'CaptioningRNN(lstm) grad {param_name}', err, 1e-6, 'Hint: ' + CAPTIONING_GRAD_PATHS[param_name])

# %% [markdown]
# ## Overfit a small dataset
#
# As with the RNN: 50 captions, 100 iterations of Adam. The final loss should be
# below 0.5.

# %% tags=["nbval-ignore-output"]
np.random.seed(231)

small_data = load_coco_data(max_train=50)

small_lstm_model = CaptioningRNN(
    cell_type='lstm',
    word_to_idx=data['word_to_idx'],
    input_dim=data['train_features'].shape[1],
    hidden_dim=512,
    wordvec_dim=256,
    dtype=np.float32,
)

small_lstm_solver = CaptioningSolver(
    small_lstm_model, small_data,
    update_rule='adam',
    num_epochs=50,
    batch_size=25,
    optim_config={'learning_rate': 5e-3},
    lr_decay=0.995,
    verbose=True, print_every=10,
)

small_lstm_solver.train()

plt.figure(figsize=(8, 4))
plt.plot(small_lstm_solver.loss_history)
plt.xlabel('Iteration')
plt.ylabel('Loss')
plt.yscale('log')
plt.title('Training loss history')
plt.show()

# %%
assert small_lstm_solver.loss_history, 'the training above did not run: fix the error it stopped with first'
final_loss = small_lstm_solver.loss_history[-1]
if ON_OFFLINE_SET:
    assert final_loss < 0.5, f'final loss {final_loss:.3f} should be below 0.5: check the LSTM loss and its gradients'
    print('PASS overfitting: final loss below 0.5')
else:
    print('NOTE: the 0.5 bound is checked on the offline set only; final loss here: %.3f. How low it '
          'gets depends on the data (differing captions of one image cannot all be memorised).' % final_loss)

# %% [markdown]
# ## Test-time sampling
#
# Sampling with an LSTM is the greedy loop of the RNN notebook with one more
# state to carry: start with `c` = zeros. As before, the training captions come
# back memorised and the validation captions do not.

# %% tags=["nbval-ignore-output"]
np.random.seed(231)
for split in ['train', 'val']:
    gt_captions, features, urls = sample_coco_minibatch(small_data, split=split, batch_size=2)
    gt_captions = decode_captions(gt_captions, data['idx_to_word'])

    ### BEGIN SOLUTION
    sample_captions = small_lstm_model.sample(features)
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
caps = small_lstm_model.sample(small_data['train_features'][:5], max_length=20)
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
# the captions of a tiny lstm model with weights from np.random.seed(1892) (cs231n/checks.py)
expected_caps = np.array([[5, 5, 5, 5, 5, 5], [6, 2, 0, 0, 0, 0], [5, 3, 6, 2, 0, 0]])
check_tiny_sample('lstm', 1892, expected_caps,
                  'start from <START>, feed each step the word picked at the step before, and '
                  'carry both the hidden state and the cell state from step to step (the cell state '
                  'starts as zeros, not as h).')

# %% [markdown]
# # RNN or LSTM?
#
# Train both cells the same way on the same data, from the same random state,
# and compare their loss curves and their validation losses (how well each
# generalises to images it never saw). Which one learns faster here, and by
# how much? The captions of the offline set are short, so the long-range
# memory that the LSTM's cell state gives has little to work on; on longer
# sequences the gap usually grows.

# %% tags=["nbval-ignore-output"]
curves, val_losses, models = {}, {}, {}
for cell_type in ['rnn', 'lstm']:
    np.random.seed(231)
    model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                          wordvec_dim=128, hidden_dim=256, cell_type=cell_type)
    solver = CaptioningSolver(model, data, update_rule='adam', optim_config={'learning_rate': 5e-3},
                              lr_decay=0.9, batch_size=100, num_epochs=2, print_every=100)
    t0 = time.time()
    solver.train()
    curves[cell_type] = solver.loss_history
    models[cell_type] = model
    val_losses[cell_type], _ = model.loss(data['val_features'][data['val_image_idxs']], data['val_captions'])
    print(f'{cell_type}: {len(solver.loss_history)} iterations in {time.time() - t0:.0f} s, '
          f'validation loss {val_losses[cell_type]:.2f}')

plt.figure(figsize=(8, 4))
for cell_type, hist in curves.items():
    plt.plot(hist, label=cell_type.upper(), alpha=0.8)
plt.xlabel('Iteration')
plt.ylabel('Training loss')
plt.legend()
plt.title('RNN and LSTM on the same data')
plt.show()

# %% [markdown]
# ## Explore the model
#
# The LSTM just trained, in the caption explorer: pick an image and a sampling
# strategy, and see the caption with the probability of each word.

# %% tags=["nbval-ignore-output"]
from cs231n.widgets import CaptionExplorer
assert 'lstm' in models, ('the LSTM above was not trained: fix the error it stopped with first '
                          '(the explorer would show another model)')
CaptionExplorer(models['lstm'], data, split='val').show()
