"""Time one training step of CaptioningRNN at the assignment's COCO sizes.

One step is `CaptioningRNN.loss`: forward and backward of the whole model,
N = 50 captions of 17 tokens (T = 16 steps), image features of size 512, word
vectors of size 256, hidden size 512, a vocabulary of 1004 words, and captions
of COCO-like lengths padded with <NULL>.

For each cell type and dtype it prints the median time of the step and three
ratios, all measured in the same run with the calls interleaved (so that a
change in the load of the machine hits every column alike):

  naive  our step / a plain per-time-step implementation kept in this file,
         written the way the assignment writes it
  torch  our step / the same step in PyTorch on the CPU, with as many threads
         as numpy's BLAS uses
  gemm   our step / the same matrix multiplies alone, replayed with the same
         shapes, layouts and dtype: the practical limit on this machine

A ratio below 1 means our step is faster. Usage, from the repository root:

    python benchmarks/bench_rnn.py [--cell rnn|lstm] [--dtype float32|float64]
        [--repeats 30] [--threads 1] [--torch-packed] [--quick]

See benchmarks/README.md for what the figures mean.
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cs231n.classifiers.rnn import CaptioningRNN  # noqa: E402
from cs231n.rnn_layers import (lstm_step_backward, lstm_step_forward,  # noqa: E402
                               rnn_step_backward, rnn_step_forward)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import OpenBLAS, blas_info, cpu_name, load_average  # noqa: E402

try:
    import resource  # page-fault counts; POSIX only
except ImportError:
    resource = None
try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None
try:
    import torch
except ImportError:
    torch = None

N, T, D, W, H, V = 50, 16, 512, 256, 512, 1004
NULL, START, END, UNK = 0, 1, 2, 3


# ----------------------------------------------------------------------------
# The problem
# ----------------------------------------------------------------------------

def make_problem(cell, dtype, seed=0):
    """A model with the assignment's initialisation, features and captions.

    Captions have 8 + Poisson(2.5) words (at most 15; about 10.5 on average,
    as in COCO), drawn from a Zipf-like distribution so that frequent words
    repeat within a minibatch, then <END>, then <NULL> padding up to 17 tokens.
    """
    rng = np.random.default_rng(seed)
    word_to_idx = {'<NULL>': NULL, '<START>': START, '<END>': END, '<UNK>': UNK}
    word_to_idx.update(('w%d' % i, i) for i in range(4, V))
    np.random.seed(seed)
    model = CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H,
                          cell_type=cell, dtype=dtype)
    features = rng.standard_normal((N, D)).astype(dtype)
    lengths = np.minimum(8 + rng.poisson(2.5, size=N), T - 1)
    p = 1.0 / np.arange(1, V - 3)
    captions = np.full((N, T + 1), NULL, dtype=np.int64)
    captions[:, 0] = START
    for n, length in enumerate(lengths):
        captions[n, 1:length + 1] = rng.choice(np.arange(4, V), size=length, p=p / p.sum())
        captions[n, length + 1] = END
    return model, features, captions


# ----------------------------------------------------------------------------
# The straightforward step, written the way the assignment writes it: the step
# functions in a loop, Python lists of caches, scores for every position,
# np.add.at, and buffers made with np.zeros(shape) -- whose default dtype is
# float64, so float32 parameters silently turn into float64 work.
# ----------------------------------------------------------------------------

def naive_forward(cell, x, h0, Wx, Wh, b):
    n, t_max, _ = x.shape
    h = np.zeros((n, t_max, h0.shape[1]))
    prev_h, prev_c = h0, np.zeros((n, h0.shape[1]))
    caches = []
    for t in range(t_max):
        if cell == 'rnn':
            prev_h, cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        else:
            prev_h, prev_c, cache = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(cache)
    return h, caches


def naive_backward(cell, dh, caches, Wx, Wh):
    n, t_max, hidden = dh.shape
    dx = np.zeros((n, t_max, Wx.shape[0]))
    dWx, dWh, db = np.zeros(Wx.shape), np.zeros(Wh.shape), np.zeros(Wh.shape[1])
    dprev_h, dprev_c = np.zeros((n, hidden)), np.zeros((n, hidden))
    for t in reversed(range(t_max)):
        if cell == 'rnn':
            dx_t, dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, caches[t])
        else:
            dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
                dh[:, t, :] + dprev_h, dprev_c, caches[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


def naive_step(model, features, captions):
    """Loss and gradients of CaptioningRNN.loss, the plain way."""
    p, cell = model.params, model.cell_type
    n = features.shape[0]
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    mask = (captions_out != NULL).reshape(-1)
    h0 = features.dot(p['W_proj']) + p['b_proj']
    x = p['W_embed'][captions_in]
    h, caches = naive_forward(cell, x, h0, p['Wx'], p['Wh'], p['b'])
    t_max, hidden = h.shape[1], h.shape[2]
    h_flat = h.reshape(n * t_max, hidden)
    scores = h_flat.dot(p['W_vocab']) + p['b_vocab']          # every position
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows, y = np.arange(n * t_max), captions_out.reshape(-1)
    loss = -np.sum(log_probs[rows, y] * mask) / n
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores *= mask[:, None] / n
    grads = {'W_vocab': h_flat.T.dot(dscores), 'b_vocab': dscores.sum(axis=0)}
    dh = dscores.dot(p['W_vocab'].T).reshape(n, t_max, hidden)
    dx, dh0, grads['Wx'], grads['Wh'], grads['b'] = naive_backward(cell, dh, caches, p['Wx'], p['Wh'])
    grads['W_embed'] = np.zeros(p['W_embed'].shape)
    np.add.at(grads['W_embed'], captions_in, dx)
    grads['W_proj'] = features.T.dot(dh0)
    grads['b_proj'] = dh0.sum(axis=0)
    return loss, grads


# ----------------------------------------------------------------------------
# The same step in PyTorch
# ----------------------------------------------------------------------------

class TorchStep:
    """Embedding, projection, nn.RNN / nn.LSTM, linear to the vocabulary at the
    unmasked positions (as our loss does), cross-entropy summed over time / N,
    backward. The weights are ours, so the loss must match.

    packed=True runs the cell on a PackedSequence (pack_padded_sequence), so
    that torch too skips the positions after each caption's end."""

    def __init__(self, model, features, captions, packed=False):
        self.packed = packed
        nn = torch.nn
        p = {k: torch.from_numpy(v.copy()) for k, v in model.params.items()}
        tdt = p['Wx'].dtype
        self.lstm = model.cell_type == 'lstm'
        rnn_cls = nn.LSTM if self.lstm else nn.RNN
        self.embed = nn.Embedding(V, W).to(tdt)
        self.proj = nn.Linear(D, H).to(tdt)
        self.rnn = rnn_cls(W, H, batch_first=True).to(tdt)
        self.vocab = nn.Linear(H, V).to(tdt)
        # our gate order is i, f, o, g; torch's is i, f, g, o
        perm = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H] if self.lstm else np.arange(H)
        with torch.no_grad():
            self.embed.weight.copy_(p['W_embed'])
            self.proj.weight.copy_(p['W_proj'].T)
            self.proj.bias.copy_(p['b_proj'])
            self.rnn.weight_ih_l0.copy_(p['Wx'][:, perm].T)
            self.rnn.weight_hh_l0.copy_(p['Wh'][:, perm].T)
            self.rnn.bias_ih_l0.copy_(p['b'][perm])
            self.rnn.bias_hh_l0.zero_()
            self.vocab.weight.copy_(p['W_vocab'].T)
            self.vocab.bias.copy_(p['b_vocab'])
        self.params = [q for m in (self.embed, self.proj, self.rnn, self.vocab) for q in m.parameters()]
        self.features = torch.from_numpy(features)
        self.captions_in = torch.from_numpy(captions[:, :-1].copy())
        self.mask = torch.from_numpy(captions[:, 1:] != NULL)
        self.targets = torch.from_numpy(captions[:, 1:][captions[:, 1:] != NULL])
        self.lengths = self.mask.sum(dim=1)

    def __call__(self):
        for q in self.params:
            q.grad = None
        h0 = self.proj(self.features)[None]                        # (1, N, H)
        x = self.embed(self.captions_in)                           # (N, T, W)
        state = (h0, torch.zeros_like(h0)) if self.lstm else h0
        if self.packed:
            rnn_utils = torch.nn.utils.rnn
            x = rnn_utils.pack_padded_sequence(x, self.lengths, batch_first=True, enforce_sorted=False)
            h, _ = self.rnn(x, state)
            h, _ = rnn_utils.pad_packed_sequence(h, batch_first=True, total_length=T)
        else:
            h, _ = self.rnn(x, state)                              # (N, T, H)
        scores = self.vocab(h[self.mask])                          # (M, V)
        loss = torch.nn.functional.cross_entropy(scores, self.targets, reduction='sum')
        loss = loss / self.features.shape[0]
        loss.backward()
        return loss.item()


# ----------------------------------------------------------------------------
# The step's matrix multiplies alone
# ----------------------------------------------------------------------------

def step_gemms(cell, captions):
    """The matrix multiplies of one CaptioningRNN.loss call, listed by hand from
    cs231n/classifiers/rnn.py and cs231n/rnn_fast.py, as
    (what, m, k, n, how many, layout, stack): C (m, n) = A (m, k) B (k, n).
    The layout has a letter for A, B and C: 't' means a transposed view (C
    't': the product is written into the transpose of a C-ordered array), 'n'
    not. With stack s > 1, one np.matmul call does s such products: the same
    A against s contiguous (k, n) blocks of B, written into s blocks of C (the
    LSTM forward works gate-major: one block per gate).

    The cells skip the captions that have ended, forward and backward: the
    step t recurrence has one row per caption still running at t, and dW_h
    one row per unmasked position (M in all). The input projection, dW_x and
    the word vectors' gradient have one row per distinct input word (U); the
    sums by word end with a small 0/1 product for the most frequent words."""
    G = 4 * H if cell == 'lstm' else H
    mask = captions[:, 1:] != NULL
    M = int(mask.sum())
    U = len(np.unique(captions[:, :-1][mask]))         # distinct input words
    running = np.sort(mask.sum(axis=1))[::-1]          # caption lengths, longest first
    widths = [int((running > t).sum()) for t in range(T)]
    steps = sorted(set(widths) - {0}, reverse=True)
    gates = 4 if cell == 'lstm' else 1        # forward products per gate, stacked
    gemms = [
        ('h0 = features W_proj', N, D, H, 1, 'nnn', 1),
        ('input projection, distinct words', U, W, H, 1, 'nnn', gates),
    ]
    for n in steps:
        gemms.append(('h W_h, steps with %d running' % n, n, H, H, widths.count(n), 'nnn', gates))
    gemms += [
        ('scores at unmasked positions', M, H, V, 1, 'nnn', 1),
        ('dh = dscores W_vocab^T', M, V, H, 1, 'ntn', 1),
        ('dW_vocab = h^T dscores', H, M, V, 1, 'tnn', 1),
    ]
    for n in steps:
        gemms.append(('dh_prev = da W_h^T, steps with %d running' % n, n, G, H,
                      widths.count(n), 'ntt', 1))
    gemms.append(('dW_h = h_prev^T da', H, M, G, 1, 'tnn', 1))
    # the sums by word (_word_projection_backward): once fewer than 17 words
    # have a j-th occurrence, the rows after that are summed by one 0/1 product
    counts = np.sort(np.bincount(captions[:, :-1][mask]))[::-1]
    counts = counts[counts > 0]
    nwords = np.array([(counts > j).sum() for j in range(counts.max(initial=0))])
    many = max(1, int(np.searchsorted(-nwords, -16)))
    if many < len(nwords):
        tail = M - int(nwords[:many].sum())
        gemms.append(('the most frequent words\' last rows summed, 0/1 product', int(nwords[many]),
                      tail, G, 1, 'nnn', 1))
    gemms += [
        ('dW_embed rows = S W_x^T (S: da summed by word)', U, G, W, 1, 'ntn', 1),
        ('dW_x = x^T S, distinct words', W, U, G, 1, 'tnn', 1),
        ('dW_proj = features^T dh0', D, N, H, 1, 'tnn', 1),
    ]
    return gemms


class GemmReplay:
    """Calls np.matmul on preallocated operands and outputs, in the order of the
    step (the calls of a per-step product reuse one set of operands)."""

    def __init__(self, gemms, dtype, seed=0):
        rng = np.random.default_rng(seed)

        def operand(rows, cols, transposed, stack=1):
            if transposed:                   # (stacked operands never are)
                return rng.standard_normal((cols, rows)).astype(dtype).T
            return rng.standard_normal((stack, rows, cols)[stack == 1:]).astype(dtype)

        self.calls = []
        for _, m, k, n, count, layout, stack in gemms:
            a, b = operand(m, k, layout[0] == 't'), operand(k, n, layout[1] == 't', stack)
            out = np.empty((n, m), dtype).T if layout[2] == 't' else operand(m, n, False, stack)
            self.calls += [(a, b, out)] * count
        self.flops = sum(2 * m * k * n * count * stack for _, m, k, n, count, _, stack in gemms)

    def __call__(self):
        for a, b, out in self.calls:
            np.matmul(a, b, out=out)


# ----------------------------------------------------------------------------
# Timing and reporting
# ----------------------------------------------------------------------------

def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def interleaved_times(funcs, repeats, warmup, block=5, pause=0.2):
    """Seconds per call (median, first and third quartile), minor page faults
    per call, and the median of each turn (one per round) of each function.

    The functions take turns, in a rotating order, so that a change in the load
    of the machine hits all of them alike. A turn is: a pause, one untimed call,
    then `block` timed calls back to back, as in a training loop. (The pause
    and the untimed call keep one function from paying for another: OpenBLAS
    and OpenMP threads spin for a while after their last call, taking a core.)
    """
    names = list(funcs)
    for _ in range(warmup):
        for name in names:
            funcs[name]()
    times = {name: [] for name in names}
    turns = {name: [] for name in names}
    faults = {name: 0 for name in names}
    for r in range(-(-repeats // block)):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(pause)
            funcs[name]()
            turn = []
            for _ in range(min(block, repeats - r * block)):
                f0 = minor_faults()
                t0 = time.perf_counter()
                funcs[name]()
                turn.append(time.perf_counter() - t0)
                faults[name] += minor_faults() - f0
            times[name] += turn
            turns[name].append(np.median(turn))
    return {name: (np.percentile(times[name], [50, 25, 75]), faults[name] / repeats, turns[name])
            for name in names}


def paired_ratios(res, name):
    """Our time / theirs, round by round (the turns of one round are seconds
    apart, so a change in the load of the machine hits both): the median and
    quartiles of the per-round ratios, and the number of rounds."""
    r = np.asarray(res['ours'][2]) / np.asarray(res[name][2])
    return np.percentile(r, [50, 25, 75]), len(r)


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def run_case(cell, dtype, repeats, warmup, block, pause, torch_packed=False):
    """Check that the contenders compute the same thing, then time them."""
    model, features, captions = make_problem(cell, dtype)
    M = int((captions[:, 1:] != NULL).sum())
    loss, grads = model.loss(features, captions)
    loss_n, grads_n = naive_step(model, features, captions)
    notes = ['loss %.6f; the naive step differs by %.1e, its gradients by at most %.1e' % (
        loss, abs(loss - loss_n) / abs(loss_n), max(rel_diff(grads[k], grads_n[k]) for k in grads))]
    p = model.params
    h0 = features @ p['W_proj'] + p['b_proj']
    h_naive, _ = naive_forward(cell, p['W_embed'][captions[:, :-1]], h0, p['Wx'], p['Wh'], p['b'])
    ours_dt = '/'.join(sorted({str(g.dtype) for g in grads.values()}))
    naive_dt = '/'.join(sorted({str(g.dtype) for g in grads_n.values()}))
    notes.append('gradient dtypes: ours %s, naive %s (its hidden states h: %s)%s' % (
        ours_dt, naive_dt, h_naive.dtype, '' if naive_dt == ours_dt else
        '  <- silently upcast by np.zeros without a dtype'))
    funcs = {'ours': lambda: model.loss(features, captions),
             'naive': lambda: naive_step(model, features, captions)}
    if torch is not None:
        step = TorchStep(model, features, captions)
        notes.append('torch loss differs by %.1e' % (abs(step() - loss) / abs(loss)))
        funcs['torch'] = step
        if torch_packed:
            packed = TorchStep(model, features, captions, packed=True)
            notes.append('torch packed loss differs by %.1e' % (abs(packed() - loss) / abs(loss)))
            funcs['torch packed'] = packed
    gemm = GemmReplay(step_gemms(cell, captions), dtype)
    funcs['gemm'] = gemm
    res = interleaved_times(funcs, repeats, warmup, block, pause)
    med, q1, q3 = res['ours'][0] * 1e3
    notes.append('ours: median %.1f ms, quartiles %.1f-%.1f ms' % (med, q1, q3))
    if 'torch packed' in res:
        t_packed, t_torch = res['torch packed'][0][0], res['torch'][0][0]
        notes.append('torch on packed sequences: %.1f ms, %.2fx the padded torch step; '
                     'ours / it: %.2fx' % (t_packed * 1e3, t_packed / t_torch, med / 1e3 / t_packed))
    notes.append('%d unmasked positions of %d; GEMMs %.2f GFLOP per step, replayed at %.0f GFLOP/s'
                 % (M, N * T, gemm.flops / 1e9, gemm.flops / res['gemm'][0][0] / 1e9))
    paired = []
    for name in ('torch', 'gemm'):
        if name in res:
            (m, lo, hi), rounds = paired_ratios(res, name)
            paired.append('%s %.2fx (quartiles %.2f-%.2f)' % (name, m, lo, hi))
    notes.append('ours / theirs round by round, over %d rounds: %s' % (rounds, ', '.join(paired)))
    return res, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cell', choices=['rnn', 'lstm', 'both'], default='both')
    parser.add_argument('--dtype', choices=['float32', 'float64', 'both'], default='both')
    parser.add_argument('--repeats', type=int, default=30, help='timed calls of each (median)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed calls of each first')
    parser.add_argument('--block', type=int, default=5, help='timed calls per turn (default 5)')
    parser.add_argument('--pause', type=float, default=0.2,
                        help='seconds of sleep before each turn (default 0.2)')
    parser.add_argument('--quick', action='store_true', help='3 repeats, 1 warm-up: a smoke test')
    parser.add_argument('--torch-packed', action='store_true',
                        help='also time torch on packed sequences (a note under each case)')
    parser.add_argument('--threads', type=int, default=None,
                        help="BLAS and torch threads (default: numpy's BLAS default)")
    args = parser.parse_args(argv)
    repeats, warmup = (3, 1) if args.quick else (args.repeats, args.warmup)
    repeats = max(repeats, 1)
    cells = ['rnn', 'lstm'] if args.cell == 'both' else [args.cell]
    dtypes = ['float32', 'float64'] if args.dtype == 'both' else [args.dtype]
    if args.threads is not None:
        if threadpoolctl is not None:
            threadpoolctl.threadpool_limits(args.threads, user_api='blas')
        elif OpenBLAS.find() is not None:
            OpenBLAS.find().set_threads(args.threads)
        else:
            parser.error('--threads needs threadpoolctl with this BLAS (or set OPENBLAS_NUM_THREADS instead)')

    blas, threads = blas_info()
    print('python %s, numpy %s, %s, %d logical cores' % (
        platform.python_version(), np.__version__, cpu_name(), os.cpu_count() or 0))
    print('BLAS: %s' % blas)
    print('OPENBLAS_* variables: %s' % (', '.join(
        '%s=%s' % kv for kv in sorted(os.environ.items()) if kv[0].startswith('OPENBLAS')) or 'none'))
    if torch is not None:
        torch.set_num_threads(threads)
        print('torch %s, %d threads' % (torch.__version__, torch.get_num_threads()))
    else:
        print('torch not importable: no torch column')
    print('N=%d T=%d D=%d W=%d H=%d V=%d; median of %d timed calls of each, in turns of %d '
          'after a %.1f s pause and an untimed call' % (N, T, D, W, H, V, repeats,
                                                          min(args.block, repeats), args.pause))
    print('load average at start: %s' % load_average())

    rows = []
    for cell in cells:
        for dtype in dtypes:
            res, notes = run_case(cell, np.dtype(dtype), repeats, warmup, args.block, args.pause,
                                  args.torch_packed and torch is not None)
            print('\n%s %s' % (cell, dtype))
            for note in notes:
                print('  ' + note)
            rows.append((cell, dtype, res))

    print('\nload average at end: %s' % load_average())
    print('times in ms (median); ratio = our time / theirs, below 1 is faster; '
          'pf = minor page faults per call')
    head = '%-5s %-8s %8s %5s | %8s %6s | %8s %6s %5s | %8s %6s' % (
        'cell', 'dtype', 'ours', 'pf', 'naive', 'ratio', 'torch', 'ratio', 'pf', 'gemm', 'ratio')
    print(head)
    print('-' * len(head))
    for cell, dtype, res in rows:
        ours = res['ours'][0][0]

        def col(name, with_pf=False):
            if name not in res:
                return '%8s %6s' % ('-', '-') + (' %5s' % '-' if with_pf else '')
            t, pf = res[name][0][0], res[name][1]
            return '%8.1f %5.2fx' % (t * 1e3, ours / t) + (' %5.0f' % pf if with_pf else '')
        print('%-5s %-8s %8.1f %5.0f | %s | %s | %s' % (
            cell, dtype, ours * 1e3, res['ours'][1], col('naive'), col('torch', True), col('gemm')))

if __name__ == '__main__':
    sys.exit(main())
