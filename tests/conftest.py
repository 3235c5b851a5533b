import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def rel_error(x, y):
    """Maximum relative error, as in the notebooks."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def coco_mini_dir():
    """The real COCO fixture: $CS231N_COCO_MINI, else ../shared/coco_mini."""
    env = os.environ.get('CS231N_COCO_MINI')
    return Path(env) if env else REPO.parent / 'shared' / 'coco_mini'


@pytest.fixture(scope='session')
def coco_mini():
    d = coco_mini_dir()
    if not (d / 'coco2014_captions.h5').is_file():
        why = 'the coco_mini fixture is not at %s (set CS231N_COCO_MINI)' % d
        if os.environ.get('CI'):   # in CI a missing fixture is a setup error, not a reason to skip
            pytest.fail(why)
        pytest.skip(why)
    return d


@pytest.fixture(scope='session')
def coco_mini_data(coco_mini):
    from cs231n.coco_utils import load_coco_data
    return load_coco_data(coco_mini)
