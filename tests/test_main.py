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
    assert 'No such notebook' in capsys.readouterr().err


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
