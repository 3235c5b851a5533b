"""The students' collect step (collect_submission.sh) and the grader's checks of
its inputs and configuration, without grading a class."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from grade_class import (CONFIG, HANG, LAYERS, MODEL, PY, REPO, _solution_files, _zip, build_release, grade,
                         release)


@pytest.fixture(scope='module')
def release_dir(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp('release') / 'assignment')


# ----------------------------------------------------------------- collect step

def _run_notebooks_fake(work):
    """Mark every code cell of the notebooks as run, in order, without errors."""
    for nb_path in (work / 'notebooks').glob('*.ipynb'):
        nb = json.loads(nb_path.read_text())
        n = 0
        for cell in nb['cells']:
            if cell['cell_type'] == 'code':
                n += 1
                cell['execution_count'] = n
        nb_path.write_text(json.dumps(nb))


def test_collect_warns_and_zips_deterministically(release_dir, tmp_path):
    work = tmp_path / 'assignment'
    shutil.copytree(release_dir, work)
    first = subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, text=True, check=True)
    assert 'never run' in first.stdout and 'still has TODO blocks' in first.stdout
    # the sampling cells of both notebooks hold a TODO block too
    assert first.stdout.count('still has a TODO block') == 2 and 'section "Test-time sampling"' in first.stdout
    # each notebook's inline question is not answered yet
    assert first.stdout.count('is not written yet: double-click its cell and write it') == 2
    assert 'the answer to "Inline question 1" is not written yet' in first.stdout
    data1 = (work / 'submission.zip').read_bytes()
    time.sleep(1.1)   # a zip with timestamps would now differ
    subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, check=True)
    assert (work / 'submission.zip').read_bytes() == data1
    names = zipfile.ZipFile(work / 'submission.zip').namelist()
    code = sorted(p.relative_to(work).as_posix() for p in (work / 'cs231n').rglob('*.py'))
    assert names == sorted(code + ['notebooks/LSTM_Captioning.ipynb', 'notebooks/RNN_Captioning.ipynb'])

    # the solution put in, the notebooks' TODO blocks filled, the notebooks "run": no warning at all;
    # a block whose raise line was replaced is done, though its comments are still there
    shutil.copy(REPO / MODEL, work / MODEL)
    layers = (work / LAYERS).read_text()
    assert layers.count('TODO: ') == 10
    # one raise line commented out rather than deleted, the others replaced
    layers = re.sub(r'raise NotImplementedError\(', '# raise NotImplementedError(', layers, count=1)
    (work / LAYERS).write_text(re.sub(r'(?<!# )raise NotImplementedError\(.*\)', 'pass', layers))
    for nb_path in (work / 'notebooks').glob('*.ipynb'):
        nb = json.loads(nb_path.read_text())
        for cell in nb['cells']:
            src = ''.join(cell['source'])
            if 'TODO: ' in src:
                cell['source'] = re.sub(r'raise NotImplementedError\(.*\)', 'pass', src)
            if 'inline-answer' in cell['metadata'].get('tags', []):
                # typed after the placeholder, which was left in: an answer all the same
                cell['source'] = '**Your answer:** *write it here* the gates scale what passes, in (0, 1).'
        nb_path.write_text(json.dumps(nb))
    _run_notebooks_fake(work)
    clean = subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, text=True, check=True)
    assert 'WARNING' not in clean.stdout and 'all notebooks were run without errors' in clean.stdout
    # from another folder, it says where the zip is
    away = subprocess.run(['bash', str(work / 'collect_submission.sh')], cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    assert 'collect: wrote %s with ' % (work / 'submission.zip').resolve() in away.stdout
    assert away.stdout.rstrip().endswith('Hand in %s.' % (work / 'submission.zip').resolve())

    # an error output in a cell is reported
    nb_path = work / 'notebooks' / 'RNN_Captioning.ipynb'
    nb = json.loads(nb_path.read_text())
    code_cells = [c for c in nb['cells'] if c['cell_type'] == 'code']
    code_cells[3]['outputs'] = [{'output_type': 'error', 'ename': 'AssertionError', 'evalue': '', 'traceback': []}]
    nb_path.write_text(json.dumps(nb))
    bad = subprocess.run(['bash', 'collect_submission.sh'], cwd=work, capture_output=True, text=True, check=True)
    assert 'code cell 4, section "Vanilla RNN: step forward" (AssertionError)' in bad.stdout


def test_review_flags_catch_reaching_for_the_reference():
    cheat = (b"from cs231n.image_utils import sys as _s\n"
             b"def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
             b"    ref = [m for n, m in _s.modules.items() if n.startswith('_ref_')][0]\n"
             b"    return getattr(ref.rnn_layers, 'rnn_step_forward')(x, prev_h, Wx, Wh, b)\n")
    flags = grade.review_flags({LAYERS: cheat})
    assert flags == [LAYERS + ' line 1 imports sys from cs231n.image_utils',
                     LAYERS + " line 3 has the string '_ref_'", LAYERS + ' line 3 uses .modules',
                     LAYERS + ' line 4 calls getattr()']
    # none for the solution, nor for the files as handed out
    solution = {rel: (REPO / rel).read_bytes() for rel in grade.STUDENT_MODULES.values()}
    assert grade.review_flags(solution) == []
    hints = release.load_hints()
    handed_out = {rel: release.student_python(rel, data.decode(), hints)[0].encode()
                  for rel, data in solution.items()}
    assert grade.review_flags(handed_out) == []


def test_unmatched_path_is_an_error(tmp_path):
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), str(tmp_path / 'nosuchdir' / '*.zip'),
                           '--out', str(tmp_path / 'g.csv')], capture_output=True, text=True)
    assert proc.returncode == 2 and 'no such file or folder' in proc.stderr
    assert not (tmp_path / 'g.csv').exists()


def test_no_jobs_is_an_error(tmp_path):
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), str(tmp_path), '--out', str(tmp_path / 'g.csv'),
                           '--jobs', '0'], capture_output=True, text=True)
    assert proc.returncode == 2 and '--jobs must be 1 or more' in proc.stderr, proc.stderr
    assert not (tmp_path / 'g.csv').exists()


def test_config_errors_are_caught(tmp_path):
    cfg = (REPO / 'grading' / 'config.toml').read_text()
    bad = tmp_path / 'config.toml'
    bad.write_text(cfg.replace('"hidden:rnn_forward_cases"', '"hidden:no_such_check"'))
    (tmp_path / 'alice' / 'cs231n').mkdir(parents=True)
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), str(tmp_path / 'alice'), '--out', str(tmp_path / 'g.csv'),
                           '--config', str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and 'no_such_check' in proc.stderr and 'nothing graded' in proc.stderr


@pytest.mark.parametrize('old, new, says', [
    ('timeout_check = 30', 'timeout_chek = 30',
     "[settings]: unknown key 'timeout_chek'; did you mean 'timeout_check'?"),
    ('[settings]', '[setings]', "the config: unknown key 'setings'; did you mean 'settings'?"),
    ('points = 4\n', 'points = 4\npartail = true\n',
     "[[part]] 'rnn_step_forward': unknown key 'partail'; did you mean 'partial'?"),
    ('points = 4\n', 'points = 4\npartial = "no"\n',
     "[[part]] 'rnn_step_forward': partial must be true or false (no quotes); got 'no'"),
    ('points = 4\n', 'points = "4"\n', "[[part]] 'rnn_step_forward': points must be a number (no quotes); got '4'"),
    ('points = 4\n', '', "[[part]] 'rnn_step_forward': points missing (points = a number (no quotes))"),
    ('points = 4\n', 'points = -4\n', "[[part]] 'rnn_step_forward': points must be a number, 0 or more"),
    ('points = 4\n', 'points = inf\n', "[[part]] 'rnn_step_forward': points must be a number, 0 or more"),
    ('name = "rnn_step_forward"\n', '', '[[part]] number 1: name missing'),
    ('functions = ["rnn_step_forward"]', 'functions = "rnn_step_forward"',
     "[[part]] 'rnn_step_forward': functions must be a list of strings"),
    ('memory_mb = 2048', 'memory_mb = "2 GB"', "[settings]: memory_mb must be a number (no quotes); got '2 GB'"),
    ("cell = \"check('rnn_step_forward next_h'\" }", 'cel = "x" }',
     "[visible] rnn_step_forward: unknown key 'cel'; did you mean 'cell'?"),
])
def test_config_typos_are_refused_with_the_place_and_the_fix(tmp_path, old, new, says):
    cfg = (REPO / 'grading' / 'config.toml').read_text()
    assert old in cfg
    bad = tmp_path / 'config.toml'
    bad.write_text(cfg.replace(old, new, 1))
    with pytest.raises(grade.ConfigError) as err:
        grade.load_config(bad, release.snapshot()[1])
    assert says in str(err.value)


def test_workspace_template_holds_no_solution_code(tmp_path):
    """A submission's code can import cs231n.*: the workspace's cs231n/ is the
    package as handed out, so the reference's fast sequence layers
    (rnn_fast.py) and solved functions are only in the randomly named
    reference package, where the runner alone imports them from."""
    snap = release.snapshot()
    tpl, ref = grade.make_template(tmp_path, CONFIG, snap, snap[1])
    fast, ref_fast = (tpl / 'cs231n' / 'rnn_fast.py').read_text(), (tpl / ref / 'rnn_fast.py').read_text()
    assert 'def _lstm_recurrence(' in ref_fast and 'def ' not in fast
    layers = (tpl / 'cs231n' / 'rnn_layers.py').read_text()
    assert 'TODO: rnn_forward' in layers and 'rnn_fast import' not in layers
    assert 'rnn_fast import' in (tpl / ref / 'rnn_layers.py').read_text()
    assert (tpl / 'cs231n' / 'optim.py').read_bytes() == (REPO / 'cs231n' / 'optim.py').read_bytes()


def test_students_are_named_after_their_file_or_folder(tmp_path):
    for rel, name in [('alice.zip', 'alice'), ('bob/submission.zip', 'bob'),
                      ('carol/submission (2).zip', 'carol'), ('dan/submission-1.zip', 'dan'),
                      ('Eve Smith.zip', 'Eve_Smith'), ('frank', 'frank'), ('Jane Doé.zip', 'Jane_Doé'),
                      ('Zoë.zip', 'Zoë'), ('Zoe\u0308 (macOS).zip', 'Zoë_macOS'), ('李雷.zip', '李雷'),
                      ('a/b\\c.zip', 'b_c'), ('प्रिया.zip', 'प्रिया'), ('ศรีสุข.zip', 'ศรีสุข'),
                      ('x' * 200 + '.zip', 'x' * 64)]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith('.zip'):
            path.write_bytes(b'')
        else:
            path.mkdir()
        assert grade.student_name(path) == name, rel
    (tmp_path / 'late').mkdir()
    (tmp_path / 'late' / 'alice.zip').write_bytes(b'')
    assert grade.unique_names([tmp_path / 'alice.zip', tmp_path / 'late' / 'alice.zip', tmp_path / 'frank']) \
        == ['alice', 'alice-2', 'frank']
    # a NAME-2 that another submission already has is not given twice
    (tmp_path / 'alice-2.zip').write_bytes(b'')
    assert grade.unique_names([tmp_path / 'alice.zip', tmp_path / 'late' / 'alice.zip', tmp_path / 'alice-2.zip']) \
        == ['alice', 'alice-3', 'alice-2']


def _grade_cli(*args):
    return subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), *map(str, args)], capture_output=True, text=True)


def test_a_class_folder_in_place_of_its_students_is_refused(tmp_path):
    subs = tmp_path / 'submissions'
    subs.mkdir()
    for name in ('alice', 'bob'):
        (subs / (name + '.zip')).write_bytes(b'')
    (subs / 'carol' / 'cs231n').mkdir(parents=True)
    proc = _grade_cli(subs, '--out', tmp_path / 'g.csv')
    assert proc.returncode == 2 and 'holds 3 submissions (alice.zip, bob.zip, carol)' in proc.stderr
    assert str(subs / '*') in proc.stderr and not (tmp_path / 'g.csv').exists()
    # alone, a folder of two zips is refused too, saying both readings
    shutil.rmtree(subs / 'carol')
    proc = _grade_cli(subs, '--out', tmp_path / 'g.csv')
    assert proc.returncode == 2 and 'holds two zips (alice.zip, bob.zip) and no files of its own' in proc.stderr
    assert str(subs / '*.zip') in proc.stderr and 'keep the one to grade' in proc.stderr
    assert not (tmp_path / 'g.csv').exists()
    # a folder with nothing to grade, given alone, is a mistake
    empty = tmp_path / 'empty'
    (empty / 'notes').mkdir(parents=True)
    proc = _grade_cli(empty, '--out', tmp_path / 'g.csv')
    assert proc.returncode == 2 and 'holds no submission: none of the student files' in proc.stderr
    assert 'grading' not in proc.stdout and not (tmp_path / 'g.csv').exists()
    # files the grader would find (flat, or deep down) are something to grade
    (empty / 'rnn_layers.py').write_text('x = 1\n')
    assert grade.submission_files(empty, list(grade.STUDENT_MODULES.values()))
    (empty / 'rnn_layers.py').unlink()
    (empty / 'hw' / 'a3' / 'cs231n').mkdir(parents=True)
    (empty / 'hw' / 'a3' / 'cs231n' / 'rnn_layers.py').write_text('x = 1\n')
    assert grade.submission_files(empty, list(grade.STUDENT_MODULES.values()))


def test_a_student_folder_with_two_zips_does_not_stop_the_class(tmp_path):
    """Among other submissions, a folder with two zips is one student's two
    downloads: graded, with a note saying which to keep."""
    olga, bob = tmp_path / 'olga', tmp_path / 'bob'
    olga.mkdir()
    for name in ('attempt1.zip', 'final.zip'):
        _zip(olga / name, {'cs231n/rnn_layers.py': 'x = 1\n'})
    (bob / 'cs231n').mkdir(parents=True)
    proc = _grade_cli(olga, bob, '--out', tmp_path / 'g.csv')
    assert proc.returncode == 0, proc.stderr
    rows = {r.split(',')[0]: r for r in (tmp_path / 'g.csv').read_text().splitlines()[1:]}
    assert sorted(rows) == ['bob', 'olga']
    assert 'olga holds several zip files (attempt1.zip, final.zip)' in rows['olga']


def test_a_missing_config_and_an_unwritable_out_stop_before_grading(tmp_path):
    (tmp_path / 'alice' / 'cs231n').mkdir(parents=True)
    proc = _grade_cli(tmp_path / 'alice', '--out', tmp_path / 'g.csv', '--config', tmp_path / 'nope.toml')
    assert proc.returncode == 2 and 'no config file' in proc.stderr and 'Traceback' not in proc.stderr
    (tmp_path / 'dir.csv').mkdir()
    (tmp_path / 'afile').write_text('x')
    (tmp_path / 'g_feedback').write_text('not a folder')
    for out, says in [(tmp_path / 'dir.csv', 'is a folder'), (tmp_path / 'afile' / 'g.csv', 'is a file, not a folder'),
                      (tmp_path / 'g.csv', 'where the feedback folder goes')]:
        t0 = time.monotonic()
        proc = _grade_cli(tmp_path / 'alice', '--out', out)
        assert proc.returncode == 2 and says in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr
        assert 'grading' not in proc.stdout and time.monotonic() - t0 < 20


def test_folder_submissions_two_copies_one_zip_of_any_name_several_zips(tmp_path):
    files = ['cs231n/rnn_layers.py', 'cs231n/classifiers/rnn.py']

    def make(folder, text):
        for rel in files:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
    olga = tmp_path / 'olga'
    make(olga / 'attempt1', 'first')
    make(olga / 'final', 'second')
    make(olga / '__MACOSX', 'resource fork')
    got, notes = grade.read_submission(olga, files)
    assert got == {rel: None for rel in files}
    assert notes == ['%s: several copies (attempt1, final) in olga' % rel for rel in files]
    # the same in a zip: the note names the folders too
    with zipfile.ZipFile(tmp_path / 'olga.zip', 'w') as z:
        for f in sorted(olga.rglob('*.py')):
            z.write(f, f.relative_to(olga).as_posix())
    got, notes = grade.read_submission(tmp_path / 'olga.zip', files)
    assert got == {rel: None for rel in files}
    assert notes == ['%s: several copies (attempt1, final) in olga.zip' % rel for rel in files]
    make(olga, 'top')              # files at the top win over copies one folder down, as in a zip
    assert grade.read_submission(olga, files) == ({rel: b'top' for rel in files}, [])
    tina = tmp_path / 'tina'
    make(tmp_path / 'src', 'solved')
    tina.mkdir()
    with zipfile.ZipFile(tina / 'submission (1).zip', 'w') as z:
        for rel in files:
            z.write(tmp_path / 'src' / rel, rel)
    assert grade.read_submission(tina, files) == ({rel: b'solved' for rel in files}, [])
    assert grade.student_name(tina) == 'tina'
    shutil.copy(tina / 'submission (1).zip', tina / 'submission (2).zip')
    got, notes = grade.read_submission(tina, files)
    assert got == {rel: None for rel in files} and notes == [
        'tina holds several zip files (submission (1).zip, submission (2).zip) and no files of its own: '
        'keep the one to grade']


def test_feedback_does_not_claim_a_second_round_that_had_no_time():
    """A part whose checks, and their second round, were not run for lack of
    time: the feedback says so and does not say 'tried again ...: the same'."""
    parts = CONFIG['parts']
    part = next(p for p in parts if p['retry_jobs'])
    budget = 'not run: the submission used up its 8 s'
    checks = {j['id']: {'ok': True, 'reason': None} for p in parts for j in p['jobs']}
    checks.update({j['id']: {'ok': False, 'reason': budget} for j in part['jobs'] + part['retry_jobs']})
    g = {'student': 'gina', 'total': 0, 'max': 0, 'checks': checks, 'notes': [],
         'scores': {p['name']: (0 if p is part else p['points']) for p in parts}}
    text = grade.feedback_text(g, parts)
    assert budget in text and 'tried again' not in text, text
    # with a second round that ran part of the way, what ran is said, and what did not
    first, *rest = part['retry_jobs']
    checks[first['id']] = {'ok': False, 'reason': 'AssertionError: off by 2'}
    text = grade.feedback_text(g, parts)
    line = next(t for t in text.splitlines() if 'tried again' in t)
    assert 'AssertionError: off by 2' in line
    assert ('(%d of its checks not run)' % len(rest) in line) == bool(rest), line


def test_a_submission_that_runs_out_of_time_gets_a_note(tmp_path):
    """The note (CSV, console) says that the submission's time ran out, so an
    instructor sees why many parts scored 0."""
    sub = tmp_path / 'slowpoke'
    for rel in (LAYERS, MODEL):
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, sub / rel)
    text = (sub / LAYERS).read_text()
    # limits the reference solution passes (the grader checks that first), and
    # hangs in the layers most checks run, which use them up
    for head in ('def rnn_step_forward(x, prev_h, Wx, Wh, b):\n', 'def word_embedding_forward(x, W):\n',
                 'def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):\n'):
        assert head in text
        text = text.replace(head, head + '    while True:\n        pass\n', 1)
    (sub / LAYERS).write_text(text)
    proc = _grade_cli(sub, '--out', tmp_path / 'g.csv', '--timeout-cell', 4, '--timeout-submission', 20)
    assert proc.returncode == 0, proc.stderr
    assert 'the submission used up its 20 s' in proc.stdout
    row = (tmp_path / 'g.csv').read_text().splitlines()[1]
    assert 'the submission used up its 20 s:' in row and 'check(s) timed out or not run' in row, row


def test_a_missing_helper_file_that_is_imported_gets_a_note_and_no_grader_paths(tmp_path):
    sub = tmp_path / 'uma'
    for rel in (LAYERS, MODEL):      # the solution's files, which import from rnn_fast.py, without it
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, sub / rel)
    proc = _grade_cli(sub, '--out', tmp_path / 'g.csv')
    assert proc.returncode == 0, proc.stderr
    assert 'cs231n/rnn_fast.py: not in the submission, but rnn_layers.py and rnn.py import from it' in proc.stdout
    feedback = (tmp_path / 'g_feedback' / 'uma.txt').read_text()
    assert "cannot import name '_rnn_forward'" in feedback and '(cs231n/rnn_fast.py)' in feedback, feedback
    assert 'cs231n-grade-' not in feedback and str(tmp_path) not in feedback


def _runners_in(tmp):
    """pid -> working folder of the runner processes under the folder tmp."""
    found = {}
    for proc in Path('/proc').glob('[0-9]*'):
        try:
            cmd = (proc / 'cmdline').read_bytes()
            cwd = os.readlink(proc / 'cwd')
        except OSError:
            continue
        if b'runner.py' in cmd and cwd.startswith(str(tmp)):
            found[int(proc.name)] = cwd
    return found


@pytest.mark.skipif(not Path('/proc/self/cwd').exists(), reason='reads /proc (Linux)')
@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stopped_grader_leaves_nothing_behind(tmp_path, sig):
    """Stopped while a submission hangs (kill, a closed terminal, Ctrl-C): the
    runner is killed, the workspaces (the reference solution among them) are
    removed, nothing is written, and the exit code names the signal."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    sub = tmp_path / 'hang.zip'
    _zip(sub, _solution_files({LAYERS: HANG}))
    proc = subprocess.Popen([PY, str(REPO / 'tools' / 'grade.py'), str(sub), '--out', str(tmp_path / 'g.csv'),
                             '--timeout-cell', '120'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, TMPDIR=str(tmp)))
    try:
        t0, runners = time.monotonic(), {}
        while not runners and time.monotonic() - t0 < 120 and proc.poll() is None:
            time.sleep(0.2)
            runners = {p: cwd for p, cwd in _runners_in(tmp).items() if cwd.endswith('-hang')}
        assert runners, 'no runner of the submission started'
        time.sleep(2)                       # into the checks, one of which hangs
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert err.strip().endswith('grade: interrupted (%s); nothing written' % sig.name) and 'Traceback' not in err
    time.sleep(0.5)
    assert not _runners_in(tmp) and not any(Path('/proc', str(p)).exists() for p in runners)
    assert list(tmp.iterdir()) == [] and not (tmp_path / 'g.csv').exists()


@pytest.mark.skipif(not Path('/proc/self/cwd').exists(), reason='reads /proc (Linux)')
def test_sighup_stays_ignored_under_nohup(tmp_path):
    """Started with SIGHUP ignored (nohup), the grader goes on when the
    terminal closes, and writes its reports."""
    tmp = tmp_path / 'tmp'
    tmp.mkdir()
    sub = tmp_path / 'hang.zip'
    _zip(sub, _solution_files({LAYERS: HANG}))
    proc = subprocess.Popen([PY, str(REPO / 'tools' / 'grade.py'), str(sub), '--out', str(tmp_path / 'g.csv'),
                             '--timeout-cell', '3'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TMPDIR=str(tmp)),
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        t0 = time.monotonic()
        while not any(cwd.endswith('-hang') for cwd in _runners_in(tmp).values()):
            assert time.monotonic() - t0 < 120 and proc.poll() is None, 'no runner of the submission started'
            time.sleep(0.2)
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert (tmp_path / 'g.csv').is_file() and 'interrupted' not in err


def test_a_runner_whose_grader_is_gone_exits(tmp_path):
    """A runner started for a grader that no longer runs stops at once (its
    parent is then another process), and RLIMIT_CPU bounds the rest."""
    spec = tmp_path / 'jobs.json'
    spec.write_text(json.dumps({'workspace': str(tmp_path), 'jobs': []}))
    r, w = os.pipe()
    gone = 1 if os.getpid() != 1 else 2   # the grader's pid comes last; this one is not our parent
    rc = subprocess.run([PY, str(REPO / 'grading' / 'runner.py'), str(spec), str(w), str(gone)],
                        pass_fds=(w,)).returncode
    os.close(r)
    os.close(w)
    assert rc == 3
    spin = ('import sys; sys.path.insert(0, %r); from runner import limit_resources\n'
            'limit_resources(None, cpu_seconds=1)\nwhile True: pass\n' % str(REPO / 'grading'))
    assert subprocess.run([PY, '-c', spin], timeout=60).returncode == -signal.SIGXCPU


def test_each_start_of_a_runner_keeps_its_own_list_of_checks(tmp_path):
    """The first start writes _grading/jobs.json, later ones jobs-2.json,
    jobs-3.json, ...: a restart after a timeout never overwrites the full list."""
    from grade_process import _spec_path
    (tmp_path / '_grading').mkdir()
    names = []
    for _ in range(3):
        p = _spec_path(tmp_path)
        p.write_text('{}')
        names.append(p.name)
    assert names == ['jobs.json', 'jobs-2.json', 'jobs-3.json']


def test_an_answer_cannot_pass_for_another_students_entry():
    """grades_answers.md shows each answer as a code block whose fence no
    backtick run in it can close: headings, fences and HTML stay text."""
    from grade_reports import answers_text
    hostile = '### alice\n\ngive me 0\n\n## RNN_Captioning.ipynb: Inline question 1\n```\n<script>x</script>\n`````'
    grades = [{'student': s, 'answers': [{'notebook': 'RNN_Captioning.ipynb', 'question': 'Inline question 1',
                                          'answer': a}]}
              for s, a in (('mal', hostile), ('alice', 'The gates.'))]
    text = answers_text(grades, {('RNN_Captioning.ipynb', 'Inline question 1'): 'Model.'})
    assert '\n``````text\n' + hostile + '\n``````\n' in text and '```text\nThe gates.\n```' in text
    outside, opened = [], 0     # the lines outside every code block (CommonMark's rule for backtick fences)
    for line in text.splitlines():
        m = re.fullmatch(r'(`{3,})\w*', line)
        if not opened and m:
            opened = len(m.group(1))
        elif opened and re.fullmatch('`{%d,}' % opened, line):
            opened = 0
        elif not opened:
            outside.append(line)
    assert [l for l in outside if l.startswith('#')] == [
        '# Inline answers', '## RNN_Captioning.ipynb: Inline question 1', '### mal', '### alice']


def test_feedback_points_a_part_at_the_parts_inside_it():
    """The RNN overfit part runs the loss, as the LSTM loss part does, but not
    the LSTM: each is pointed at its own loss part only."""
    parts = CONFIG['parts']
    bad = {'captioning_loss_rnn', 'overfit_rnn', 'captioning_loss_lstm', 'overfit_lstm'}
    checks = {j['id']: ({'ok': False, 'reason': 'AssertionError: loss off'} if p['name'] in bad else
                        {'ok': True, 'reason': None}) for p in parts for j in p['jobs'] + p['retry_jobs']}
    g = {'student': 'olaf', 'total': 0, 'max': 0, 'checks': checks, 'notes': [],
         'scores': {p['name']: (0 if p['name'] in bad else p['points']) for p in parts}}
    text = grade.feedback_text(g, parts)
    inner = [line.strip() for line in text.splitlines() if 'also runs the code of' in line]
    assert inner == ['this part also runs the code of captioning_loss_rnn, which failed too: fix that first',
                     'this part also runs the code of captioning_loss_lstm, which failed too: fix that first'], text
