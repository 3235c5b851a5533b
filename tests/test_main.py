"""The main job's runner: executed copies outside the sources, a summary, and a
non-zero exit when a check fails."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip('nbformat')
pytest.importorskip('nbclient')

from cs231n.main import main


def write_nb(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def test_main_reports_pass_and_failure(tmp_path, capsys, monkeypatch):
    # the kernel must import this checkout's cs231n, installed or not
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))
    good = write_nb(tmp_path / 'good.ipynb', ["print('PASS thing one: error 1e-9 < 1e-8')",
                                             "print('PASS thing two')"])
    bad = write_nb(tmp_path / 'bad.ipynb', ["print('PASS first')",
                                           "assert 1 > 2, 'thing two is off: check the sign'",
                                           "print('never')"])
    before = good.read_bytes()
    out = tmp_path / 'executed'
    assert main([str(good), '--out', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'good.ipynb' in text and '2 checks passed' in text and 'All checks passed.' in text
    assert good.read_bytes() == before                      # the source is not touched
    executed = nbformat.read(out / 'good.ipynb', as_version=4)
    assert executed.cells[1].outputs[0]['text'] == 'PASS thing two\n'

    assert main([str(good), str(bad), '--out', str(out)]) == 1
    text = capsys.readouterr().out
    assert 'FAILED: AssertionError: thing two is off: check the sign' in text
    assert text.rstrip().endswith('FAILED: bad.ipynb')
    assert (out / 'bad.ipynb').exists()


def test_main_missing_notebook(tmp_path, capsys):
    assert main([str(tmp_path / 'nope.ipynb')]) == 2
    err = capsys.readouterr().err
    assert 'No such notebook: %s (the notebooks: RNN_Captioning.ipynb, LSTM_Captioning.ipynb' % (tmp_path / 'nope.ipynb') in err


def test_outputs_stored_in_the_notebook_are_not_reported_as_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in
                ["print('PASS one: error 1e-9 < 1e-8')", "assert False, 'two is off'", "print('PASS three')"]]
    for k, cell in enumerate(nb.cells):   # as stored for nbval: every cell ran once, and passed
        cell.execution_count = k + 1
        cell.outputs = [nbformat.v4.new_output('stream', name='stdout', text='PASS stored %d\n' % k)]
    nbformat.write(nb, tmp_path / 'stale.ipynb')
    out = tmp_path / 'executed'
    assert main([str(tmp_path / 'stale.ipynb'), '--out', str(out)]) == 1
    text = capsys.readouterr().out
    assert '1 checks passed' in text and 'PASS stored' not in text and 'PASS three' not in text
    assert '[cell 1/3] PASS one' in text            # progress, as the cells run
    executed = nbformat.read(out / 'stale.ipynb', as_version=4)
    assert [c.execution_count for c in executed.cells] == [1, 2, None]
    assert executed.cells[2].outputs == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ['executed', 'stale.ipynb']   # no kernel sockets left


def test_no_kernel_is_left_running(tmp_path, monkeypatch):
    import subprocess
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))

    def kernels():
        ps = subprocess.run(['ps', '-eo', 'pid,args'], capture_output=True, text=True).stdout.splitlines()
        return {line.split()[0] for line in ps if 'ipykernel_launcher' in line}
    before = kernels()
    good = write_nb(tmp_path / 'good.ipynb', ["print('PASS one')"])
    assert main([str(good), '--out', str(tmp_path / 'executed')]) == 0
    assert kernels() - before == set()


def test_a_cell_too_long_or_a_dead_kernel_fails_the_job(tmp_path, capsys, monkeypatch):
    """--timeout applies, and a kernel that dies (out of memory, a crash) is a
    failure with the cell named, not a hang or a pass."""
    import time
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))
    slow = write_nb(tmp_path / 'slow.ipynb', ["print('PASS one')", "import time; time.sleep(60)"])
    dies = write_nb(tmp_path / 'dies.ipynb', ["print('PASS one')", "import os; os._exit(1)", "print('PASS never')"])
    t0 = time.monotonic()
    assert main([str(slow), '--timeout', '3', '--out', str(tmp_path / 'out')]) == 1
    assert time.monotonic() - t0 < 40
    assert 'FAILED: a cell ran longer than --timeout 3 s (cell 2/2)' in capsys.readouterr().out
    assert main([str(dies), '--out', str(tmp_path / 'out')]) == 1
    text = capsys.readouterr().out
    assert 'FAILED: the kernel died in cell 2/3' in text and '1 checks passed' in text


def test_ctrl_c_stops_the_job_at_once(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    if not os.path.isdir('/proc'):
        pytest.skip('watches the kernel start through /proc')
    repo = Path(__file__).resolve().parent.parent
    slow = write_nb(tmp_path / 'slow.ipynb', ["import time; time.sleep(120)"])
    later = write_nb(tmp_path / 'later.ipynb', ["print('PASS later')"])
    env = dict(os.environ, PYTHONPATH=str(repo))
    proc = subprocess.Popen([sys.executable, '-m', 'cs231n.main', str(slow), str(later),
                             '--out', str(tmp_path / 'out')], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60       # until the kernel runs the cell
    while time.monotonic() < deadline and not any('ipykernel' in open('/proc/%s/cmdline' % p, 'rb').read().decode(
            errors='replace') for p in os.listdir('/proc') if p.isdigit() and _child_of(p, proc.pid)):
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert 'Interrupted while running slow.ipynb (Ctrl-C or a stop signal): stopped.' in err
    assert 'notebooks before it' not in err, err          # it was the first one
    assert 'Traceback' not in err and 'ZMQError' not in err, err   # the kernel's shutdown noise stays in its log
    assert 'Running later.ipynb' not in out


def _child_of(pid, parent):
    try:
        with open('/proc/%s/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1]) == parent
    except (OSError, ValueError, IndexError):
        return False


def test_the_closing_hints_work_from_where_the_job_was_started(tmp_path, capsys, monkeypatch):
    """Paths in the summary are from the working directory: relative inside
    the repository, absolute from elsewhere, so they can be pasted."""
    import os
    import sys
    from cs231n import main as job
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))
    good = write_nb(tmp_path / 'good.ipynb', ["print('PASS one')"])
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main([str(good), '--out', str(tmp_path / 'out')]) == 0
    text = capsys.readouterr().out
    jupyter = Path(sys.executable).parent / 'jupyter'
    assert 'Open the suite in JupyterLab:  %s lab %s%s' % (os.path.normpath(jupyter), job.NOTEBOOKS, os.sep) in text
    assert 'Executed copies: %s' % (tmp_path / 'out') in text
    monkeypatch.chdir(job.ROOT)
    assert main([str(good), '--out', str(job.ROOT / 'out' / 'test-hints')]) == 0
    text = capsys.readouterr().out
    assert 'lab notebooks%s\n' % os.sep in text and 'Executed copies: out/test-hints\n' in text
    import shutil
    shutil.rmtree(job.ROOT / 'out' / 'test-hints')


def test_the_job_runs_on_the_offline_set_unless_told_otherwise(tmp_path, capsys, monkeypatch):
    """Also when the COCO data has been fetched (which the notebooks would
    pick by default); CS231N_COCO_DIR, when set, wins."""
    from cs231n.coco_utils import OFFLINE_DIR
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))
    monkeypatch.delenv('CS231N_COCO_DIR', raising=False)
    nb = write_nb(tmp_path / 'where.ipynb', ["import os; print('PASS data at ' + os.environ['CS231N_COCO_DIR'])"])
    assert main([str(nb), '--out', str(tmp_path / 'out')]) == 0
    assert 'PASS data at %s\n' % OFFLINE_DIR in capsys.readouterr().out
    monkeypatch.setenv('CS231N_COCO_DIR', str(tmp_path / 'mine'))
    assert main([str(nb), '--out', str(tmp_path / 'out')]) == 0
    assert 'PASS data at %s\n' % (tmp_path / 'mine') in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)                  # a relative folder is meant from here, not from the notebook's
    monkeypatch.setenv('CS231N_COCO_DIR', 'mine')
    assert main([str(nb), '--out', str(tmp_path / 'out')]) == 0
    assert 'PASS data at %s\n' % (tmp_path / 'mine') in capsys.readouterr().out


def test_the_summary_says_the_offline_set_was_used(tmp_path, capsys, monkeypatch):
    from cs231n.coco_utils import OFFLINE_DIR
    monkeypatch.setenv('PYTHONPATH', str(Path(__file__).resolve().parent.parent))
    monkeypatch.delenv('CS231N_COCO_DIR', raising=False)
    monkeypatch.chdir(tmp_path)
    nb = write_nb(tmp_path / 'load.ipynb', ["from cs231n.coco_utils import default_base_dir; default_base_dir()"])
    assert main([str(nb), '--out', str(tmp_path / 'out')]) == 0
    assert ('Loading the offline set from %s (set CS231N_COCO_DIR to run on another dataset folder)'
            % OFFLINE_DIR) in capsys.readouterr().out
