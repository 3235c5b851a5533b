"""The cs231n package of the RNN captioning assignment."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent   # the assignment folder this package is in


def check_location(folder=None):
    """Warn when this package is not the one in `folder` (default: the working
    directory or its parent, where a notebook in notebooks/ runs): another copy
    installed in the environment would be run instead of the code being
    edited. Returns True when it is the right one."""
    here = [Path(folder).resolve()] if folder else [Path.cwd().resolve(), Path.cwd().resolve().parent]
    if ROOT in here:
        return True
    print('WARNING: the cs231n package comes from %s, not from %s: the code you edit here is not the '
          'code that runs. Run `bash scripts/setup.sh` in this folder (it installs this copy), or '
          'start Jupyter from its own environment.' % (ROOT / 'cs231n', here[-1]))
    return False
