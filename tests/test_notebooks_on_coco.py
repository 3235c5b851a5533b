"""Both notebooks run unchanged on the real COCO layout (the coco_mini fixture):
executed headless with the data pointed there. Checks that hold only on the
offline set must be skipped with a visible note, and no cell may fail."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip('nbformat')
nbclient = pytest.importorskip('nbclient')

NOTEBOOKS = Path(__file__).resolve().parent.parent / 'notebooks'


@pytest.mark.parametrize('name', ['RNN_Captioning.ipynb', 'LSTM_Captioning.ipynb'])
def test_notebook_runs_on_coco_layout(name, coco_mini, monkeypatch):
    monkeypatch.setenv('CS231N_COCO_DIR', str(coco_mini))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name='python3',
                                     resources={'metadata': {'path': str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code'
                     for o in c.get('outputs', []) if o.get('output_type') == 'stream')
    assert 'Loading the dataset at %s' % coco_mini in text
    assert 'NOTE: the' in text and 'checked on the offline set only' in text
    assert text.count('PASS ') >= 15
