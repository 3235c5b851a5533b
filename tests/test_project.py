"""The project's own promises: the dependency lists agree, the README's two
commands are the ones CI and users run."""
import re
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _names(reqs):
    return {re.split(r'[<>=!~\[; ]', r.strip(), maxsplit=1)[0].lower() for r in reqs if r.strip()}


def environment_deps():
    """Dependencies of environment.yml, read without a YAML library: the list
    items under `dependencies:` and under its `pip:` entry."""
    conda, pip, section = set(), set(), None
    for line in (REPO / 'environment.yml').read_text().splitlines():
        if line.split('#')[0].strip() == '':
            continue
        if re.match(r'^\S', line):
            section = line.split(':')[0]
            continue
        m = re.match(r'^(\s*)-\s*(.+?)\s*$', line)
        if section != 'dependencies' or not m:
            continue
        item = m.group(2)
        if item == 'pip:':
            continue
        (pip if len(m.group(1)) > 2 else conda).add(item)
    return conda, pip


def test_environment_matches_pyproject():
    project = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']
    conda, pip = environment_deps()
    # packages that conda-forge lacks come from pip, everything else from conda
    assert _names(project['dependencies']) == (_names(conda) - {'python', 'pip'}) | _names(pip - {'-e .'})
    assert '-e .' in pip
    assert {r.replace(' ', '') for r in project['dependencies'] if '==' in r} <= pip
    assert any(c.startswith('python=3.11') for c in conda)


def test_readme_has_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / 'README.md').read_text()
    quick = readme.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    commands = re.findall(r'```(?:bash|sh)?\n(.*?)```', quick, re.S)
    lines = [l for c in commands for l in c.strip().splitlines() if l.strip() and not l.startswith('#')]
    assert lines == ['bash scripts/run.sh', 'bash scripts/test.sh']
    ci = [l for l in (REPO / '.ci' / 'run').read_text().splitlines()
          if l.strip() and not l.startswith('#') and not l.startswith('set ') and not l.startswith('cd ')]
    assert ci == ['bash scripts/test.sh']


def _fake_pythons(folder):
    """python3.* that pass the version check but cannot make a venv: setup.sh
    stops right after deciding what to do with the environment it found."""
    import os
    folder.mkdir()
    for name in ('python3.11', 'python3.12', 'python3.13', 'python3.10', 'python3'):
        p = folder / name
        p.write_text('#!/bin/sh\nif [ "$1" = "-m" ]; then exit 1; fi\n'
                     'if [ "$1" = "--version" ]; then echo "Python 3.11.0"; fi\nexit 0\n')
        os.chmod(p, 0o755)
    return folder


def test_setup_remakes_a_half_made_venv_and_refuses_a_foreign_folder(tmp_path):
    import os
    import subprocess
    bin_dir = _fake_pythons(tmp_path / 'bin')
    env = dict(os.environ, PATH='%s:/usr/bin:/bin' % bin_dir)
    # interrupted setup: a venv without pip
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    (venv / 'bin' / 'python').write_text('#!/bin/sh\nexit 1\n')
    os.chmod(venv / 'bin' / 'python', 0o755)
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'setup.sh')], env=dict(env, CS231N_VENV=str(venv)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert 'is incomplete (no pip) or made with a Python older than 3.10: making it again' in proc.stdout
    assert "-m venv' failed or gave no pip: install the venv module" in proc.stderr
    assert not venv.exists()
    # a folder that is not a venv is left alone
    other = tmp_path / 'mine'
    other.mkdir()
    (other / 'thesis.tex').write_text('mine')
    proc = subprocess.run(['bash', str(REPO / 'scripts' / 'setup.sh')], env=dict(env, CS231N_VENV=str(other)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and 'exists but is not a virtual environment' in proc.stderr
    assert (other / 'thesis.tex').read_text() == 'mine'
