"""The grader (tools/grade.py) on a class of submissions (tests/grade_class.py),
graded once, in parallel: the solution, the release, deliberately broken ones,
a cheater, and submissions that hang, crash, exit, run out of memory or flood
the output; then regrading one student and merging into the class's results."""
import csv
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from grade_class import (CLASS, CONFIG, LAYERS, MEMORY_MB, MODEL, MODEL_PARTS, PARTS, POINTS, PY, REPO,
                         TIMEOUT_CELL, TIMEOUT_SUBMISSION, _cheater_extras, _solution_files, _zip,
                         build_release, grade)


@pytest.fixture(scope='module')
def release_dir(tmp_path_factory):
    return build_release(tmp_path_factory.mktemp('release') / 'assignment')


@pytest.fixture(scope='module')
def graded(tmp_path_factory, release_dir):
    subs = tmp_path_factory.mktemp('subs')
    paths = []
    for name, (how, changes, _) in CLASS.items():
        if how == 'collect':
            work = tmp_path_factory.mktemp('student') / 'assignment'
            shutil.copytree(release_dir, work)
            subprocess.run(['bash', 'collect_submission.sh'], cwd=work, check=True, capture_output=True)
            path = subs / (name + '.zip')
            shutil.copy(work / 'submission.zip', path)
        elif how in ('folder', 'deep'):
            path = subs / name
            for rel, data in _solution_files(changes).items():
                rel = 'Downloads/assignment3/' + rel if how == 'deep' else rel
                (path / rel).parent.mkdir(parents=True, exist_ok=True)
                (path / rel).write_text(data)
        else:
            files = _solution_files(changes)
            if name == 'cheater':
                files.update(_cheater_extras(release_dir))
            if name == 'copy0':
                files.update(_answered_notebooks(release_dir))
            if how == 'nested':   # everything one folder down, plus hostile member names
                files = {'hw3/' + k: v for k, v in files.items()}
                files['../../escaped.py'] = 'print("never extracted")\n'
                files['/abs/cs231n/rnn_layers.py'] = 'raise SystemExit\n'
            if how == 'flat':
                files = {k.rsplit('/', 1)[-1]: v for k, v in files.items()}
            if how == 'windows':
                files = {k.replace('/', '\\'): v for k, v in files.items()}
            if how == 'missing':
                del files[MODEL]
            (subs / name).mkdir()
            path = subs / name / 'submission.zip'   # named after its folder
            _zip(path, files)
            if how == 'truncated':   # a download cut short: not a readable zip
                path.write_bytes(path.read_bytes()[:2000])
        paths.append(str(path))
    out = tmp_path_factory.mktemp('grades') / 'grades.csv'
    t0 = time.monotonic()
    proc = subprocess.run([PY, str(REPO / 'tools' / 'grade.py'), *paths, '--out', str(out), '--jobs', '2',
                           '--timeout-cell', str(TIMEOUT_CELL), '--timeout-submission', str(TIMEOUT_SUBMISSION),
                           '--memory-mb', str(MEMORY_MB)], capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out, newline='') as f:
        rows = list(csv.DictReader(f))
    details = json.loads(out.with_suffix('.json').read_text())
    students = {s['student']: s for s in details['students']}
    feedback = out.parent / 'grades_feedback'
    print(proc.stdout)
    return {'rows': {r['student']: r for r in rows}, 'students': students, 'feedback': feedback,
            'wall': wall, 'stdout': proc.stdout, 'header': list(rows[0].keys()) if rows else [],
            'answers': (out.parent / 'grades_answers.md').read_text()}


RNN_ANSWER = 'Characters: no unknown words, a tiny vocabulary; but captions become 5x longer sequences.'


def _answered_notebooks(release_dir):
    """The handed-out notebooks, with the RNN notebook's inline question
    answered and the LSTM one's left as it was."""
    out = {}
    for name in ('RNN_Captioning.ipynb', 'LSTM_Captioning.ipynb'):
        nb = json.loads((release_dir / 'notebooks' / name).read_text())
        for cell in nb['cells']:
            if 'inline-answer' in cell['metadata'].get('tags', []) and name.startswith('RNN'):
                cell['source'] = '**Your answer:** ' + RNN_ANSWER
        out['notebooks/' + name] = json.dumps(nb)
    return out


def test_inline_answers_are_collected_for_the_instructor(graded):
    """grades_answers.md: question by question, each student's answer, or
    why there is none; the grades do not depend on them."""
    text = graded['answers']
    rnn = text.split('## RNN_Captioning.ipynb: Inline question 1')[1].split('\n## ')[0]
    lstm = text.split('## LSTM_Captioning.ipynb: Inline question')[1].split('\n## ')[0]
    assert '### copy0\n\n```text\n' + RNN_ANSWER + '\n```\n' in rnn
    assert text.index('## RNN_Captioning.ipynb') < text.index('## LSTM_Captioning.ipynb')   # the assignment's order
    assert '### copy0\n\n*(not answered)*' in lstm
    assert '### release\n\n*(not answered)*' in rnn and '### release\n\n*(not answered)*' in lstm
    assert '### solution\n\n*(notebook not handed in, or not readable)*' in rnn
    # the cheater handed in an edited RNN notebook only
    assert '### cheater\n\n*(not answered)*' in rnn
    assert '### cheater\n\n*(notebook not handed in, or not readable)*' in lstm
    assert graded['rows']['copy0']['total'] == graded['rows']['copy1']['total']
    assert 'inline' not in (graded['feedback'] / 'copy0.txt').read_text()
    # each question opens with the model answer of the instructor's notebook, quoted
    assert rnn.startswith('\n\n> **Model answer**') and '> - *Disadvantage:*' in rnn
    assert lstm.startswith('\n\n> **Model answer**') and 'exploding' in lstm
    assert rnn.index('> - *Disadvantage:*') < rnn.index('### copy0')
    assert 'BEGIN SOLUTION' not in text


def test_an_unreadable_zip_is_said_first_and_runs_no_check(graded):
    row, g = graded['rows']['truncated_zip'], graded['students']['truncated_zip']
    assert float(row['total']) == 0 and row['notes'] == 'submission.zip is not a readable zip file (BadZipFile)'
    assert g['seconds'] < 5 and all(c['reason'] == "not run: none of the graded files could be taken from the submission"
                                    for c in g['checks'].values())
    text = (graded['feedback'] / 'truncated_zip.txt').read_text()
    assert text.splitlines()[2:4] == ['None of the graded files could be taken from your submission, so no check ran:',
                                      '- submission.zip is not a readable zip file (BadZipFile)']
    assert 'collect_submission.sh' in text and 'NotImplementedError' not in text and len(text.splitlines()) < 10


def test_changed_given_code_is_noted(graded):
    """A function handed out complete and changed in the submission is named in
    the notes and the feedback; it costs nothing by itself."""
    row = graded['rows']['given_edited']
    assert float(row['total']) == sum(POINTS.values())
    assert ("cs231n/rnn_layers.py: code handed out complete (no TODO in it) was changed: sigmoid; "
            "the checks ran the submission's version") in row['notes']
    assert 'changed: sigmoid' in (graded['feedback'] / 'given_edited.txt').read_text()
    for name in ('solution', 'release', 'copy0', 'flat_zip'):
        assert 'handed out complete' not in graded['rows'][name]['notes'], name


def test_given_code_changes_ignore_docstrings_comments_and_layout(release_dir):
    handed = {rel: (release_dir / rel).read_text() for rel in (LAYERS, MODEL)}
    same = handed[LAYERS].replace(
        '    """A numerically stable logistic sigmoid: no overflow for large |x|."""\n    x = np.asarray(x)',
        '    """In my words."""\n    # a note\n    x   =   np.asarray( x )', 1)
    assert same != handed[LAYERS]
    assert grade.given_code_changes({LAYERS: same.encode()}, handed) == []
    # a TODO function filled in, and a new helper: nothing to say either
    filled = handed[LAYERS].replace("raise NotImplementedError('rnn_step_forward", "return 0  # ('rnn_step_forward", 1)
    assert filled != handed[LAYERS]
    assert grade.given_code_changes({LAYERS: (filled + '\ndef helper():\n    pass\n').encode()}, handed) == []
    # a method of the model changed, a given layer gone
    init = handed[MODEL].replace('np.random.randn(vocab_size, wordvec_dim) / 100',
                                 'np.random.randn(vocab_size, wordvec_dim) / 10', 1)
    gone = handed[LAYERS].replace('def temporal_affine_backward(', 'def my_affine_backward(', 1)
    assert init != handed[MODEL] and gone != handed[LAYERS]
    notes = grade.given_code_changes({MODEL: init.encode(), LAYERS: gone.encode()}, handed)
    assert notes == [MODEL + ': code handed out complete (no TODO in it) was changed: CaptioningRNN.__init__; '
                     "the checks ran the submission's version",
                     LAYERS + ': code handed out complete (no TODO in it) was removed: temporal_affine_backward; '
                     "the checks ran the submission's version"]


def test_model_answers_come_from_the_solution_regions():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell('## Question A'),
        nbformat.v4.new_markdown_cell('**Your answer:** *write it here*\n<!-- BEGIN SOLUTION -->\n'
                                      'Because.\n<!-- END SOLUTION -->', metadata={'tags': ['inline-answer']}),
        nbformat.v4.new_markdown_cell('## Question B'),
        nbformat.v4.new_markdown_cell('**Your answer:** *write it here*', metadata={'tags': ['inline-answer']})])
    assert grade.model_answers({'X.ipynb': nb}) == {('X.ipynb', 'Question A'): 'Because.'}


def test_text_typed_around_the_placeholder_is_an_answer(tmp_path):
    import zipfile
    sources = {'**Your answer:** *write it here*': None, '**Your answer:**   ': None, '': None,
               '**Your answer:** *write it here* Because h is squashed.': 'Because h is squashed.',
               'Because c is not.\n\n*write it here*': 'Because c is not.'}
    nb = nbformat.v4.new_notebook(cells=[c for k, src in enumerate(sources) for c in (
        nbformat.v4.new_markdown_cell('## Q%d' % k),
        nbformat.v4.new_markdown_cell(src, metadata={'tags': ['inline-answer']}))])
    path = tmp_path / 'sub.zip'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('notebooks/RNN_Captioning.ipynb', nbformat.writes(nb))
    answers, _ = grade.inline_answers(path)
    assert [a['answer'] for a in answers if a['notebook'] == 'RNN_Captioning.ipynb'] == list(sources.values())


def _lost(graded, name):
    row = graded['rows'][name]
    return {p for p in PARTS if float(row[p]) != POINTS[p]}


def _reasons(graded, name, part):
    checks = graded['students'][name]['checks']
    return [c['reason'] for k, c in checks.items() if k.startswith(part + '/') and not c['ok']]


def test_class_csv_is_complete_and_graded_in_parallel(graded):
    assert graded['header'] == ['student'] + PARTS + ['total', 'notes', 'review_flags', 'max', 'file']
    assert sorted(graded['rows']) == sorted(CLASS) and len(graded['rows']) == 29
    for name, row in graded['rows'].items():
        assert float(row['total']) == pytest.approx(sum(float(row[p]) for p in PARTS))
        assert row['max'] == '100' and row['file'] == graded['students'][name]['path']
        assert (graded['feedback'] / (name + '.txt')).is_file()
    # two submissions at a time: some grading intervals overlap
    spans = sorted((s['started'], s['ended']) for s in graded['students'].values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
    assert not any(s['grader_error'] for s in graded['students'].values())


@pytest.mark.parametrize('name', sorted(CLASS))
def test_each_submission_loses_exactly_its_parts(graded, name):
    assert _lost(graded, name) == CLASS[name][2], graded['students'][name]['checks']


def test_solution_full_marks_and_fast(graded):
    assert float(graded['rows']['solution']['total']) == sum(POINTS.values()) == 100
    assert graded['students']['solution']['seconds'] < 30


def test_release_scores_zero_every_check_not_implemented(graded):
    assert float(graded['rows']['release']['total']) == 0
    for cid, c in graded['students']['release']['checks'].items():
        assert not c['ok'] and c['reason'].startswith('NotImplementedError'), (cid, c['reason'])


def test_broken_function_feedback_names_the_check(graded):
    text = (graded['feedback'] / 'broken_db.txt').read_text()
    assert 'rnn_step_backward db: error' in text            # the notebook check's own message
    assert "rnn_step_backward db is wrong" in text           # the hidden check's
    assert 'rnn_step_forward              4       4  ok' in text


def test_no_feedback_blames_a_part_the_grader_replaced(graded):
    # each check runs with the reference's versions of the parts it builds on,
    # so the notebooks' "did not pass when last run" notes would be false here
    for name, s in graded['students'].items():
        for cid, c in s['checks'].items():
            assert 'did not pass when last run' not in c['reason'], (name, cid, c['reason'])


def test_edited_notebook_and_patched_helpers_are_ignored(graded):
    reasons = _reasons(graded, 'cheater', 'rnn_step_forward')
    assert any('rnn_step_forward next_h: error' in r for r in reasons)   # the instructor's notebook check


def test_code_right_with_its_own_pieces_is_tried_again_with_them(graded):
    checks = graded['students']['own_caches']['checks']
    for part in ('rnn_backward', 'lstm_backward', 'overfit_rnn', 'overfit_lstm'):
        first = [c for k, c in checks.items() if k.startswith(part + '/') and not k.endswith('+own')]
        again = [c for k, c in checks.items() if k.startswith(part + '/') and k.endswith('+own')]
        assert first and not all(c['ok'] for c in first), part     # the reference's steps in place
        assert again and all(c['ok'] for c in again), part          # the student's own steps
    # parts that pass at once are not run again
    assert not any(k.startswith('rnn_forward/') and k.endswith('+own') for k in checks)
    text = (graded['feedback'] / 'own_caches.txt').read_text()
    assert 'FAILED' not in text and 'Failed checks' not in text


def test_notebook_checks_catch_what_only_the_hidden_ones_did(graded):
    checks = graded['students']['notebook_bugs']['checks']
    for cid, why in [('captioning_loss_rnn/visible:captioning_grads_rnn', "grads has no ['b_proj']"),
                     ('captioning_loss_lstm/visible:captioning_grads_lstm', 'grad W_proj: error'),
                     ('sample_rnn/visible:sample_rnn_words', 'sample gave'),
                     ('sample_lstm/visible:sample_lstm_words', 'sample gave')]:
        assert not checks[cid]['ok'] and why in checks[cid]['reason'], (cid, checks[cid])
    # the form of the sampled captions is right: only the words check sees the bug
    assert checks['sample_rnn/visible:sample_rnn']['ok']
    assert checks['captioning_loss_lstm/visible:captioning_loss_lstm']['ok']


def test_special_cased_passes_the_visible_check_only(graded):
    checks = graded['students']['special_cased']['checks']
    assert checks['rnn_step_forward/visible:rnn_step_forward']['ok']
    assert not checks['rnn_step_forward/hidden:rnn_step_forward_cases']['ok']


def _line_of(student, function):
    """The line of the endless loop (`while True:`) in `function` of the student's rnn_layers.py."""
    source = _solution_files(CLASS[student][1])[LAYERS].splitlines()
    start = max(i for i, line in enumerate(source) if line.startswith('def %s(' % function))
    return next(i for i in range(start, len(source)) if source[i].strip() == 'while True:') + 1


def test_hang_is_reported_as_timeout_within_the_limit(graded):
    reasons = _reasons(graded, 'hang', 'rnn_step_backward')
    # the first check times out; the part's other check could not change its
    # score, so it is not run (a second wait of TIMEOUT_CELL saved)
    assert sorted(reasons) == ['not run: visible:rnn_step_backward of this part timed out',
                               'timed out after %g s (still running cs231n/rnn_layers.py, line %d, in '
                               'rnn_step_backward)' % (TIMEOUT_CELL, _line_of('hang', 'rnn_step_backward'))]
    # a part with a second round (lstm_forward uses lstm_step_forward) does not get it after a timeout
    checks = graded['students']['hang']['checks']
    assert checks['lstm_forward/visible:lstm_forward']['reason'].startswith('timed out after %g s (still running '
                                                                          'cs231n/rnn_layers.py' % TIMEOUT_CELL)
    assert checks['lstm_forward/visible:lstm_forward']['reason'].endswith(', in lstm_forward)')
    assert not any(k.endswith('+own') for k in checks if k.startswith(('lstm_forward/', 'lstm_backward/')))
    # three timeouts (rnn_step_backward, lstm_forward, lstm_backward), and restarts of the runner
    assert graded['students']['hang']['seconds'] < 3 * TIMEOUT_CELL + 25


def test_sample_cannot_lean_on_the_given_beam_search(graded):
    for part in ('sample_rnn', 'sample_lstm'):
        reasons = _reasons(graded, 'beam_sample', part)
        why = 'called the given _beam_search, which the checks and the grader switch off'
        assert reasons and all(why in r for r in reasons), reasons
    # the helpers are back for the other parts: the loss parts, whose loss calls one, passed
    parts = [p['name'] for p in CONFIG['parts']]
    assert parts.index('sample_rnn') < parts.index('captioning_loss_lstm')
    for part in ('captioning_loss_rnn', 'captioning_loss_lstm'):
        assert float(graded['rows']['beam_sample'][part]) == POINTS[part], part


def test_no_second_round_runs_code_that_timed_out(graded):
    checks = graded['students']['hang_and_raise']['checks']
    assert 'NameError' in checks['overfit_lstm/hidden:overfit_lstm']['reason']
    assert checks['lstm_step_forward/visible:lstm_step_forward']['reason'].startswith(
        'timed out after %g s (still running cs231n/rnn_layers.py, line ' % TIMEOUT_CELL)
    # overfit_lstm's second round would run the student's lstm_step_forward: skipped;
    # overfit_rnn's runs the RNN steps, which did not hang
    assert not any(k.startswith('overfit_lstm/') and k.endswith('+own') for k in checks)
    assert any(k.startswith('overfit_rnn/') and k.endswith('+own') for k in checks)
    # two timeouts (the lstm_step_forward and lstm_step_backward parts), and restarts of the runner
    assert graded['students']['hang_and_raise']['seconds'] < 2 * TIMEOUT_CELL + 25


def test_crashes_and_exits_are_reported(graded):
    assert set(_reasons(graded, 'crash_in_function', 'lstm_step_backward')) == {'crashed (exit code 3)'}
    for part in MODEL_PARTS:
        assert set(_reasons(graded, 'crash_at_import', part)) == {
            'could not import cs231n/classifiers/rnn.py: crashed (exit code 3) at import'}
        assert all('SyntaxError' in r for r in _reasons(graded, 'syntax_error', part))
        assert all(r.count('line ') == 1 for r in _reasons(graded, 'syntax_error', part))  # said once
    assert set(_reasons(graded, 'sys_exit', 'word_embedding_forward')) == {'called sys.exit(0)'}
    assert all(r.startswith('out of memory') for r in _reasons(graded, 'oom', 'rnn_forward'))
    # one import failure sinks many parts: the feedback says it once
    text = (graded['feedback'] / 'crash_at_import.txt').read_text()
    assert text.count('could not import') == 1 and 'captioning_loss_rnn, overfit_rnn, sample_rnn' in text


def test_feedback_points_at_the_part_to_fix_first(graded):
    text = (graded['feedback'] / 'oom.txt').read_text()
    backward = text[text.index('- rnn_backward,'):]
    assert 'also runs the code of rnn_forward, which failed too: fix that first' in backward
    assert 'section "Vanilla RNN: backward over a sequence"' in text   # where the check cell is
    # a TODO block left as handed out: one line for it, naming every part it sinks, and nothing more
    text = (graded['feedback'] / 'missing_file.txt').read_text()
    failed = text[text.index('Failed checks:'):].split('\n\n')[0].splitlines()[1:]
    assert len(failed) == 2 and re.fullmatch(
        r'- captioning_loss_rnn, overfit_rnn, captioning_loss_lstm, overfit_lstm: NotImplementedError: '
        r'CaptioningRNN.loss in cs231n/classifiers/rnn.py: replace this TODO block with your code '
        r'\(cs231n/classifiers/rnn.py, line \d+, in loss\)', failed[0]) and re.fullmatch(
        r'- sample_rnn, sample_lstm: NotImplementedError: CaptioningRNN.sample in cs231n/classifiers/rnn.py: '
        r'replace this TODO block with your code \(cs231n/classifiers/rnn.py, line \d+, in sample\)',
        failed[1]), text
    assert 'also runs the code of' not in text and 'tried again' not in text
    text = (graded['feedback'] / 'release.txt').read_text()
    # the blocks a check reaches (each backward check runs its forward first): seven lines, not 33
    todo = [line for line in text.splitlines() if 'replace this TODO block' in line]
    assert len(todo) == 7 and todo[0].startswith('- rnn_step_forward, rnn_step_backward: NotImplementedError: '
                                                 'rnn_step_forward in cs231n/rnn_layers.py'), text
    # a part that failed only on an import failure said above gets no more lines
    text = (graded['feedback'] / 'syntax_error.txt').read_text()
    assert 'also runs the code of' not in text and 'tried again' not in text, text


def test_a_process_left_behind_does_not_hold_up_grading(graded):
    students = graded['students']
    assert students['daemon']['seconds'] < students['solution']['seconds'] + TIMEOUT_CELL
    # and it does not outlive grading, though it is in a session of its own
    if os.path.isdir('/proc/self'):
        left = []
        for environ in Path('/proc').glob('[0-9]*/environ'):
            try:
                if grade.TOKEN_VAR.encode() + b'=' in environ.read_bytes():
                    left.append(environ.parent.name)
            except OSError:
                pass
        assert left == [], 'processes of the submissions still running: %s' % left


def test_output_flood_is_capped(graded):
    flood = graded['students']['flood']
    out = flood['checks']['rnn_step_forward/visible:rnn_step_forward']['output']
    assert len(out) < 70 * 1024 and 'more characters of output dropped' in out
    assert flood['seconds'] < 60


def test_files_out_of_place_are_found_and_said(graded):
    notes = {n: graded['rows'][n]['notes'] for n in ('flat_zip', 'deep_folder', 'windows_zip', 'nested_zip')}
    assert ('cs231n/classifiers/rnn.py: taken from rnn.py in submission.zip (hand in with '
            'collect_submission.sh, which puts it at cs231n/classifiers/rnn.py)') in notes['flat_zip']
    assert 'cs231n/rnn_layers.py: taken from Downloads/assignment3/cs231n/rnn_layers.py in deep_folder' \
        in notes['deep_folder']
    assert notes['windows_zip'] == notes['nested_zip'] == ''   # where the assignment puts them


def test_missing_file_is_said_first_in_the_feedback(graded):
    text = (graded['feedback'] / 'missing_file.txt').read_text()
    head = text.split('part ')[0]
    assert 'could not be taken (graded as handed out):\n- cs231n/classifiers/rnn.py: not found in' in head
    assert 'collect_submission.sh' in head


def test_missing_file_and_hostile_zip(graded):
    # said once: the feedback adds that the file was graded as handed out
    assert [n for n in graded['students']['missing_file']['notes'] if MODEL in n] == [
        MODEL + ': not found in submission.zip; graded as handed out']
    assert float(graded['rows']['nested_zip']['total']) == 100


def test_feedback_of_an_earlier_run_is_removed(graded, tmp_path):
    fb = tmp_path / 'grades_feedback'
    fb.mkdir()
    (fb / 'someone_else.txt').write_text('an earlier run')
    one = [graded['students']['solution']]
    assert grade.write_reports(one, CONFIG['parts'], tmp_path / 'grades.csv') == (fb, 1)
    assert sorted(f.name for f in fb.iterdir()) == ['solution.txt']


def test_notes_and_review_flags_reach_the_instructor_not_the_student(graded):
    rows, out = graded['rows'], graded['feedback'].parent
    assert 'graded as handed out' in rows['missing_file']['notes'] and rows['solution']['notes'] == ''
    assert int(rows['sys_exit']['review_flags']) > 0 and rows['solution']['review_flags'] == '0'
    review = (out / 'grades_review.txt').read_text()
    assert review.startswith('For the instructor, not for the students')
    assert '\nsys_exit:\n- cs231n/rnn_layers.py line' in review and '\nsolution:' not in review
    for f in graded['feedback'].iterdir():
        assert 'instructor' not in f.read_text(), f.name
    lines = {line.split()[0]: line for line in graded['stdout'].splitlines() if line.startswith('  ')}
    assert 'NOTE: cs231n/classifiers/rnn.py: not found' in lines['missing_file']
    assert 'review flag(s)' in lines['sys_exit'] and 'NOTE' not in lines['solution']
    assert 'rnn_fast.py' not in rows['solution']['notes'] + rows['missing_file']['notes']   # optional file


def test_a_file_that_cannot_be_imported_is_in_the_class_csv(graded):
    rows = graded['rows']
    assert 'could not import cs231n/classifiers/rnn.py: SyntaxError' in rows['syntax_error']['notes']
    assert 'could not import cs231n/classifiers/rnn.py' in rows['crash_at_import']['notes']
    assert 'could not import' not in rows['broken_db']['notes']


def _grade_cmd(*args):
    return [PY, str(REPO / 'tools' / 'grade.py'), *args, '--timeout-cell', str(TIMEOUT_CELL),
            '--memory-mb', str(MEMORY_MB)]


def test_regrading_one_student_keeps_the_class(graded, tmp_path):
    results = tmp_path / 'results'
    shutil.copytree(graded['feedback'].parent, results)       # the class's reports
    out, fb = results / 'grades.csv', results / 'grades_feedback'
    before = {f.name: f.read_bytes() for f in results.rglob('*') if f.is_file()}
    one = graded['students']['broken_db']['path']
    cmd = _grade_cmd(one, '--out', str(out))

    refused = subprocess.run(cmd, capture_output=True, text=True)
    assert refused.returncode == 2, refused.stderr
    assert 'already holds the grades of %d student(s) not in this run' % (len(CLASS) - 1) in refused.stderr
    assert '--merge' in refused.stderr and '--replace' in refused.stderr
    assert {f.name: f.read_bytes() for f in results.rglob('*') if f.is_file()} == before   # untouched

    # feedback written by an older version, with the review flags in it: rewritten from the record
    (fb / 'sys_exit.txt').write_text(before['sys_exit.txt'].decode() + '\nFor the instructor to review: ...\n')
    merged = subprocess.run(cmd + ['--merge'], capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    assert 'kept %d student(s) of the earlier run' % (len(CLASS) - 1) in merged.stdout
    with open(out, newline='') as f:
        rows = {r['student']: r for r in csv.DictReader(f)}
    assert rows == graded['rows']                           # the same grades, everyone still there
    students = json.loads(out.with_suffix('.json').read_text())['students']
    assert sorted(s['student'] for s in students) == sorted(CLASS)
    regraded = next(s for s in students if s['student'] == 'broken_db')
    assert regraded['started'] > graded['students']['broken_db']['ended']
    for name in CLASS:                                      # the others' feedback as it was
        if name != 'broken_db':
            assert (fb / (name + '.txt')).read_bytes() == before[name + '.txt'], name

    replaced = subprocess.run(cmd + ['--replace'], capture_output=True, text=True)
    assert replaced.returncode == 0, replaced.stderr
    assert 'removed %d feedback file(s)' % (len(CLASS) - 1) in replaced.stdout
    assert sorted(f.name for f in fb.iterdir()) == ['broken_db.txt']
    with open(out, newline='') as f:
        assert [r['student'] for r in csv.DictReader(f)] == ['broken_db']


def test_out_must_be_a_csv_and_merge_needs_the_same_parts(graded, tmp_path):
    one = graded['students']['solution']['path']
    bad = subprocess.run(_grade_cmd(one, '--out', str(tmp_path / 'grades.json')), capture_output=True, text=True)
    assert bad.returncode == 2 and '--out must name a .csv file' in bad.stderr
    assert not (tmp_path / 'grades.json').exists()
    results = tmp_path / 'results'
    shutil.copytree(graded['feedback'].parent, results)
    cfg = tmp_path / 'config.toml'
    cfg.write_text((REPO / 'grading' / 'config.toml').read_text().replace('points = 4\n', 'points = 5\n', 1))
    other = subprocess.run(_grade_cmd(one, '--out', str(results / 'grades.csv'), '--merge', '--config', str(cfg)),
                           capture_output=True, text=True)
    assert other.returncode == 2 and 'cannot merge' in other.stderr and '(points of rnn_step_forward (4 then, 5 now))' in other.stderr
    # the same points scored another way (partial credit) cannot share the file either
    cfg.write_text((REPO / 'grading' / 'config.toml').read_text().replace('points = 4\n', 'points = 4\npartial = true\n', 1))
    other = subprocess.run(_grade_cmd(one, '--out', str(results / 'grades.csv'), '--merge', '--config', str(cfg)),
                           capture_output=True, text=True)
    assert other.returncode == 2 and '(partial of rnn_step_forward)' in other.stderr, other.stderr
    # the reports of an older grader, which did not record partial and uses: they merge
    details = json.loads((results / 'grades.json').read_text())
    for part in details['parts']:
        del part['partial'], part['uses']
    (results / 'grades.json').write_text(json.dumps(details))
    problem, kept = grade.check_out(results / 'grades.csv', ['solution'], 'merge', CONFIG['parts'])
    assert problem is None and len(kept) == len(CLASS) - 1


@pytest.mark.parametrize('change, says', [
    (['--timeout-cell', '-1'], 'settings.timeout_check in the config (or --timeout-cell) must be a number of '
                               'seconds above 0, not -1.0'),
    (['--timeout-submission', '0'], 'settings.timeout_submission'),
    (['--config', 'CFG'], "[settings]: output_cap_kb must be a number (no quotes); got '64k'"),
    # limits too tight for the reference solution itself (numpy cannot even start in 64 MB)
    (['--memory-mb', '64'], 'the reference solution itself scores 0 / 100'),
])
def test_limits_that_would_fail_every_student_are_refused_before_anything_is_written(graded, tmp_path,
                                                                                    change, says):
    results = tmp_path / 'results'
    shutil.copytree(graded['feedback'].parent, results)
    before = {f.name: f.read_bytes() for f in results.rglob('*') if f.is_file()}
    cfg = tmp_path / 'config.toml'
    cfg.write_text((REPO / 'grading' / 'config.toml').read_text().replace('output_cap_kb = 64', 'output_cap_kb = "64k"'))
    change = [str(cfg) if c == 'CFG' else c for c in change]
    cmd = _grade_cmd(graded['students']['solution']['path'], '--out', str(results / 'grades.csv'), '--merge')
    proc = subprocess.run(cmd + change, capture_output=True, text=True)   # the later options win
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr and 'nothing graded' in proc.stderr
    assert {f.name: f.read_bytes() for f in results.rglob('*') if f.is_file()} == before   # untouched


def test_regrading_a_student_from_another_file_says_what_changed(graded, tmp_path):
    results = tmp_path / 'results'
    shutil.copytree(graded['feedback'].parent, results)
    late = tmp_path / 'late' / 'broken_db'          # the same student, another hand-in: the solution
    for rel, data in _solution_files({}).items():
        (late / rel).parent.mkdir(parents=True, exist_ok=True)
        (late / rel).write_text(data)
    proc = subprocess.run(_grade_cmd(str(late), '--out', str(results / 'grades.csv'), '--merge'),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    was = graded['rows']['broken_db']['total']
    assert ('note: broken_db was %s / 100 in the earlier run (from %s), now 100 (from %s)'
            % (was, graded['students']['broken_db']['path'], late)) in proc.stdout
    assert 'note: solution was' not in proc.stdout
    # the class's file again, without a flag, would take the late hand-in back: refused, nothing written
    before = {f: f.read_bytes() for f in results.rglob('*') if f.is_file()}
    everyone = [graded['students'][n]['path'] for n in CLASS]
    again = subprocess.run(_grade_cmd(*everyone, '--out', str(results / 'grades.csv')), capture_output=True, text=True)
    assert again.returncode == 2, again.stderr
    assert ('1 student(s) in %s were graded from another file in the earlier run (broken_db: %s, now %s)'
            % (results / 'grades.csv', late, graded['students']['broken_db']['path'])) in again.stderr
    assert '--merge or --replace' in again.stderr
    assert {f: f.read_bytes() for f in results.rglob('*') if f.is_file()} == before


def test_a_kept_workspace_replays_every_check_by_hand(graded, tmp_path):
    """--keep-workspaces: `runner.py _grading/jobs.json 1` in a student's
    workspace replays all the checks, the failed ones included, with no
    grader running; the same file given twice is graded once."""
    one = graded['students']['broken_db']['path']
    runs = tmp_path / 'tmp'
    runs.mkdir()
    proc = subprocess.run(_grade_cmd(one, one, '--out', str(tmp_path / 'g.csv'), '--keep-workspaces'),
                          capture_output=True, text=True, env=dict(os.environ, TMPDIR=str(runs)))
    assert proc.returncode == 0, proc.stderr
    assert 'note: %s is given more than once; graded once' % one in proc.stdout
    with open(tmp_path / 'g.csv', newline='') as f:
        assert [r['student'] for r in csv.DictReader(f)] == ['broken_db']
    ws = next(runs.glob('cs231n-grade-*/ws*-broken_db'))
    assert 'workspaces kept in %s' % ws.parent in proc.stdout
    lists = sorted(p.name for p in (ws / '_grading').glob('jobs*.json'))
    assert lists[0] == 'jobs.json', lists   # the first start's list: every check (later starts add jobs-2.json, ...)
    ids = [j['id'] for j in json.loads((ws / '_grading' / 'jobs.json').read_text())['jobs']]
    assert len(ids) == len(graded['students']['broken_db']['checks'])
    replay = subprocess.run([PY, '-I', '_grading/runner.py', '_grading/jobs.json', '1'], cwd=ws,
                            capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stderr
    events = [json.loads(line) for line in replay.stdout.splitlines() if line.startswith('{')]
    done = {e['id']: e for e in events if e.get('event') == 'end'}
    assert set(done) == set(ids)
    failed = [i for i in ids if not graded['students']['broken_db']['checks'][i]['ok']]
    assert failed and all(not done[i]['ok'] for i in failed)
    shutil.rmtree(ws.parent)
