"""The benchmark runs and its three implementations agree (no timing is
asserted: performance figures come from running the benchmark itself)."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def test_benchmark_quick_run():
    proc = subprocess.run([sys.executable, str(REPO / 'benchmarks' / 'bench_rnn.py'), '--quick',
                           '--cell', 'rnn', '--dtype', 'float32', '--torch-packed'],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    m = re.search(r'the naive step differs by (\S+), its gradients by at most (\S+)', out)
    assert m and float(m.group(1)) < 1e-5 and float(m.group(2)) < 1e-4, out
    assert re.search(r'^rnn\s+float32\s+[\d.]+\s', out, re.M), out
    assert 'gradient dtypes: ours float32' in out
    assert re.search(r'ours / theirs round by round, over 1 rounds: .*gemm [\d.]+x', out), out
    if 'torch not importable' not in out:
        for what in ('torch loss', 'torch packed loss'):
            m = re.search(what + r' differs by (\S+)', out)
            assert m and float(m.group(1)) < 1e-5, out
        assert 'torch on packed sequences:' in out


def test_gemm_replay_lists_the_compacted_products():
    """The replayed multiplies skip the captions that have ended, forward and
    backward, as the step does."""
    sys.path.insert(0, str(REPO / 'benchmarks'))
    try:
        import bench_rnn
    finally:
        sys.path.pop(0)
    model, features, captions = bench_rnn.make_problem('lstm', 'float64')
    gemms = bench_rnn.step_gemms('lstm', captions)
    lengths = (captions[:, 1:] != bench_rnn.NULL).sum(axis=1)
    for prefix in ('h W_h', 'dh_prev'):
        per_step = [g for g in gemms if g[0].startswith(prefix)]
        assert sum(g[4] for g in per_step) == lengths.max()          # one product per step with work
        assert sum(g[1] * g[4] for g in per_step) == lengths.sum()   # one row per unmasked position
    flops = {g[0]: 2 * g[1] * g[2] * g[3] * g[4] * g[6] for g in gemms}
    W, H = bench_rnn.W, bench_rnn.H
    assert flops['dW_h = h_prev^T da'] == 2 * H * lengths.sum() * 4 * H
    # the input projection and dW_x: once per distinct input word
    words = len(np.unique(captions[:, :-1][captions[:, 1:] != bench_rnn.NULL]))
    assert 100 < words < lengths.sum() / 2
    assert flops['input projection, distinct words'] == 2 * words * W * 4 * H
    assert flops['dW_x = x^T S, distinct words'] == 2 * W * words * 4 * H
    # the 0/1 product of the sums by word has the shape the step's has
    from cs231n import rnn_fast
    _, cache = rnn_fast._word_projection(captions[:, :-1][captions[:, 1:] != bench_rnn.NULL],
                                         model.params['W_embed'], model.params['Wx'],
                                         model.params['b'], gates=4)
    onehot = cache[4]
    (m, k, n), = [g[1:4] for g in gemms if '0/1 product' in g[0]]
    assert (m, k, n) == onehot.shape + (4 * H,) and 0 < m <= 16, (m, k, n)


def test_paired_ratios_pair_the_turns_of_each_round():
    sys.path.insert(0, str(REPO / 'benchmarks'))
    try:
        import bench_rnn
    finally:
        sys.path.pop(0)
    # the machine slows down 3x in round 2: both contenders feel it, the ratio does not
    res = {'ours': (None, 0, [1.0, 3.0, 1.1, 0.9, 1.0]), 'torch': (None, 0, [2.0, 6.0, 2.0, 2.0, 2.5])}
    (med, lo, hi), rounds = bench_rnn.paired_ratios(res, 'torch')
    assert rounds == 5 and med == 0.5 and lo == 0.45 and hi == 0.5


def test_blas_kernel_and_threads_read_without_threadpoolctl():
    """With numpy on OpenBLAS, the benchmark names the kernel that runs and
    sets the thread count itself (--threads), threadpoolctl or not."""
    sys.path.insert(0, str(REPO / 'benchmarks'))
    try:
        import bench_rnn
    finally:
        sys.path.pop(0)
    ob = bench_rnn.OpenBLAS.find()
    if ob is None:
        import pytest
        pytest.skip('numpy does not use OpenBLAS here (or not on Linux)')
    assert ob.corename() and ob.corename().isprintable(), ob.corename()
    before = ob.threads()
    try:
        ob.set_threads(1)
        assert ob.threads() == 1
        assert np.allclose(np.ones((64, 64)) @ np.ones((64, 64)), 64.0)
    finally:
        ob.set_threads(before)
    assert ob.threads() == before
    saved, bench_rnn.threadpoolctl = bench_rnn.threadpoolctl, None
    try:
        desc, threads = bench_rnn.blas_info()
    finally:
        bench_rnn.threadpoolctl = saved
    assert 'kernel %s' % ob.corename() in desc and threads == before, desc
