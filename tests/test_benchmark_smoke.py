"""The benchmark runs and its three implementations agree (no timing is
asserted: performance figures come from running the benchmark itself)."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_benchmark_quick_run():
    proc = subprocess.run([sys.executable, str(REPO / 'benchmarks' / 'bench_rnn.py'), '--quick',
                           '--cell', 'rnn', '--dtype', 'float32'],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    m = re.search(r'the naive step differs by (\S+), its gradients by at most (\S+)', out)
    assert m and float(m.group(1)) < 1e-5 and float(m.group(2)) < 1e-4, out
    assert re.search(r'^rnn\s+float32\s+[\d.]+\s', out, re.M), out
    assert 'gradient dtypes: ours float32' in out
