"""The notebooks are built from notebooks/src/: the committed ones match their
sources, and a rebuild gives the same widget ids."""
import importlib.util
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location('build_notebooks', REPO / 'tools' / 'build_notebooks.py')
build_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_notebooks)


def test_committed_notebooks_match_their_sources(capsys):
    assert build_notebooks.main(['--check']) == 0, capsys.readouterr().out


def test_check_sees_an_edited_source(tmp_path, monkeypatch, capsys):
    src = tmp_path / 'src'
    src.mkdir()
    text = (REPO / 'notebooks' / 'src' / 'rnn_captioning.py').read_text()
    (src / 'rnn_captioning.py').write_text(text + '\n# %%\nprint("a new cell")\n')
    monkeypatch.setattr(build_notebooks, 'SRC', src)
    monkeypatch.setattr(build_notebooks, 'NOTEBOOKS', {'rnn_captioning.py': 'RNN_Captioning.ipynb'})
    assert build_notebooks.main(['--check']) == 1
    assert 'RNN_Captioning.ipynb differs' in capsys.readouterr().out


def _widget_notebook(ids):
    nb = nbformat.v4.new_notebook()
    state = {i: {'model_name': 'HBoxModel', 'state': {'children': ['IPY_MODEL_' + j for j in ids if j != i]}}
             for i in ids}
    nb.metadata['widgets'] = {'application/vnd.jupyter.widget-state+json': {'state': state, 'version_major': 2}}
    cell = nbformat.v4.new_code_cell('w', id='explorer-000')
    cell.outputs = [nbformat.v4.new_output('display_data', data={
        'application/vnd.jupyter.widget-view+json': {'model_id': ids[0], 'version_major': 2},
        'text/plain': 'HBox()'})]
    nb.cells.append(cell)
    return nb


def test_widget_ids_are_renumbered_from_the_displayed_widget():
    a = build_notebooks.stable_widget_ids(_widget_notebook(['9f' * 16, '3c' * 16, '77' * 16]))
    b = build_notebooks.stable_widget_ids(_widget_notebook(['e1' * 16, '0a' * 16, 'b5' * 16]))
    assert nbformat.writes(a) == nbformat.writes(b)
    state = a.metadata['widgets']['application/vnd.jupyter.widget-state+json']['state']
    one, two, three = '%032x' % 1, '%032x' % 2, '%032x' % 3
    assert sorted(state) == [one, two, three]
    assert state[one]['state']['children'] == ['IPY_MODEL_' + two, 'IPY_MODEL_' + three]
    assert a.cells[0].outputs[0]['data']['application/vnd.jupyter.widget-view+json']['model_id'] == one


def test_committed_explorer_has_stable_widget_ids():
    nb = nbformat.read(REPO / 'notebooks' / 'Caption_Explorer.ipynb', as_version=4)
    state = nb.metadata['widgets']['application/vnd.jupyter.widget-state+json']['state']
    assert list(state) == ['%032x' % (i + 1) for i in range(len(state))]


def test_consecutive_streams_are_joined():
    out = nbformat.v4.new_output
    outputs = [out('stream', name='stdout', text='a\n'), out('stream', name='stdout', text='b\n'),
               out('stream', name='stderr', text='warn\n'), out('stream', name='stdout', text='c\n'),
               out('display_data', data={'text/plain': 'x'}), out('stream', name='stdout', text='d\n')]
    joined = build_notebooks.coalesce_streams(outputs)
    assert [(o.output_type, o.get('name'), o.get('text')) for o in joined] == [
        ('stream', 'stdout', 'a\nb\n'), ('stream', 'stderr', 'warn\n'), ('stream', 'stdout', 'c\n'),
        ('display_data', None, None), ('stream', 'stdout', 'd\n')]
