"""Grade submissions (instructor-only).

    python tools/grade.py SUBMISSION... --out grades.csv [--merge | --replace]
        [--jobs N] [--timeout-cell S] [--timeout-submission S] [--memory-mb M]
        [--config grading/config.toml] [--keep-workspaces]

A SUBMISSION is a folder or a zip made by collect_submission.sh (a folder
holding submission.zip counts too). The student is named after the folder or
the zip (`alice.zip`, `alice/`, `alice/submission.zip` are all "alice").

For each submission the grader builds a clean workspace: the instructor's
package, notebooks, hidden checks and reference implementation, plus only the
student's versions of the files listed in the config (`student_files`):
never their notebooks, tests or other files (the notebooks' inline answers
are only read, as text, for grades_answers.md). The checks run in a separate
process with a memory limit, a time limit per check and one per submission;
a check that raises, hangs, runs out of memory or kills the process fails on
its own and the rest goes on. Submissions are graded in parallel (--jobs).

Writes (named after --out, which must end in .csv):
    grades.csv              one row per student: student, one column per part, total,
                            notes (problems with the submission), review_flags (a count),
                            max (the points of all parts), file (the submission graded)
    grades.json             every check of every student: result, reason, time
    grades_feedback/NAME.txt  per student: the score of each part, and why
                            each failed check failed (for the student)
    grades_review.txt       what looks like reaching beyond the assignment (for the
                            instructor only)
    grades_answers.md       every student's answers to the notebooks' inline questions,
                            question by question, to read and mark by hand (no points here)

When --out already holds students not in this run, or students graded from
other files than those given now (a late hand-in merged earlier), nothing is
graded unless --merge (keep the others, update the students graded now) or
--replace (this run alone) says what to do.
"""
import argparse
import concurrent.futures
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADING = ROOT / 'grading'
sys.path.insert(0, str(ROOT / 'tools'))
try:   # Ctrl-C while these load (nbformat, numpy: a second or two): a message, not a traceback
    import release  # noqa: E402  (tools/release.py: the student version of a file)
    from release import tomllib  # noqa: E402
    from grade_reports import (answers_path, check_out, count_passed, earlier_students,  # noqa: E402,F401
                               feedback_text, fmt, out_problem, report_paths, write_reports)
    from grade_submissions import (ALLOWED_IMPORTS, MAX_FILE_BYTES, given_code_changes,  # noqa: E402,F401
                                   inline_answers, model_answers, read_submission, review_flags,
                                   student_name, submission_files, submissions_inside)
    from grade_config import STUDENT_MODULES, ConfigError, load_config  # noqa: E402
    from grade_process import (LIVE, LIVE_LOCK, RUN_ID, STOP, TOKEN_VAR, kill_group,  # noqa: E402,F401
                               kill_leftovers, run_checks)
except KeyboardInterrupt:
    if __name__ != '__main__':
        raise
    print('grade: interrupted (SIGINT) while starting; nothing written', file=sys.stderr)
    sys.exit(130)

OPTIONAL_FILES = {'cs231n/rnn_fast.py'}   # not said in the notes when missing
REF_FILES = ['__init__.py', 'rnn_layers.py', 'rnn_fast.py', 'classifiers/__init__.py', 'classifiers/rnn.py',
             'gradient_check.py', 'optim.py', 'shapes.py']

# ----------------------------------------------------------------------------
# Workspaces (the runner processes: grade_process.py)
# ----------------------------------------------------------------------------

def make_template(root, config, snap, notebooks):
    """The instructor's part of every workspace, built once per run. Its
    cs231n/ is the package as handed out (no solution code, which the student
    files then replace); the reference is the solution package."""
    package, _ = snap
    tpl = root / 'template'
    ref_name = '_ref_' + secrets.token_hex(4)   # not a name a submission can know in advance
    hints = release.load_hints()
    for rel, data in package.items():
        if rel.endswith('.py'):
            (tpl / rel).parent.mkdir(parents=True, exist_ok=True)
            text, _ = release.student_python(rel, data.decode('utf-8'), hints)
            (tpl / rel).write_bytes(text.encode('utf-8'))
            sub = rel[len('cs231n/'):]
            if sub in REF_FILES:
                (tpl / ref_name / sub).parent.mkdir(parents=True, exist_ok=True)
                (tpl / ref_name / sub).write_bytes(data)
    (tpl / 'notebooks').mkdir()
    for name, nb in notebooks.items():
        (tpl / 'notebooks' / name).write_bytes(release.notebook_bytes(nb))
    (tpl / '_grading' / 'hidden_tests').mkdir(parents=True)
    shutil.copy2(GRADING / 'runner.py', tpl / '_grading' / 'runner.py')
    for p in sorted((GRADING / 'hidden_tests').glob('*.py')):
        shutil.copy2(p, tpl / '_grading' / 'hidden_tests' / p.name)
    return tpl, ref_name



HANDED_OUT = '; graded as handed out'
UNREAD = "not run: none of the graded files could be taken from the submission"


class _Unread(Exception):
    """None of the graded files could be taken from the submission: grade_one skips the checks."""


def grade_one(index, path, config, tpl, ref_name, run_root, settings, keep=False, name=None):
    """Grade one submission; never raises."""
    t0 = time.monotonic()
    started = time.time()
    name = name or student_name(path)
    parts = config['parts']
    jobs = [j for p in parts for j in p['jobs']]
    answers, answer_notes, unread = [], [], False
    try:
        files, notes = read_submission(path, list(STUDENT_MODULES.values()), OPTIONAL_FILES)
        answers, answer_notes = inline_answers(path)   # for the instructor to read; no points
        for rel in OPTIONAL_FILES:   # missing, and another file of the submission needs it
            module = Path(rel).stem
            uses = re.compile(r'^\s*(from\s+[\w.]*\b{0}\s+import|import\s+[\w.]*\b{0}\b|'
                              r'from\s+[\w.]+\s+import\s+[^#\n]*\b{0}\b)'.format(module), re.M)
            users = [Path(r).name for r, data in files.items()
                     if data and r != rel and uses.search(data.decode('utf-8', 'replace'))]
            if files.get(rel) is None and users:
                notes.append('%s: not in the submission, but %s import%s from it' % (
                    rel, ' and '.join(users), 's' if len(users) == 1 else ''))
        flags = review_flags(files)
        notes += given_code_changes(files, {rel: (tpl / rel).read_text(encoding='utf-8')
                                            for rel in files if (tpl / rel).is_file()})
        unread = all(data is None for data in files.values())
        if unread:   # an unreadable zip, an empty folder: the notes say why; no check can pass
            results, broken = {j['id']: {'ok': False, 'seconds': 0.0, 'output': '', 'reason': UNREAD}
                               for j in jobs}, {}
            raise _Unread
        ws = run_root / ('ws%03d-%s' % (index, name))
        shutil.copytree(tpl, ws)
        for rel, data in files.items():
            if data is None:  # graded as handed out: the template's copy
                handed_out = (tpl / rel).read_text(encoding='utf-8').splitlines()
                if any(release.TODO_BEGIN.match(line) for line in handed_out):
                    said = [k for k, n in enumerate(notes) if n.startswith(rel + ':')]   # not found, ...
                    if said:   # one note per file
                        notes[said[0]] += HANDED_OUT
                    else:
                        notes.append('%s: graded as handed out (nothing implemented)' % rel)
                continue
            (ws / rel).write_bytes(data)
        deadline = time.monotonic() + float(settings['timeout_submission'])
        results, broken = run_checks(ws, jobs, settings, ref_name, config['hidden_modules'], deadline=deadline)
        # A part that failed is tried again with the student's own versions of
        # the functions it builds on (`uses`), in place of the reference's: a
        # sequence pass whose caches follow the student's own step functions is
        # right, but only with those.
        # Not after a timeout in the part, nor when the second round would run
        # the code of a part that timed out: the same code would most likely
        # hang again, at the cost of the time limit once more.
        hung = [p for p in parts if any((results.get(k['id']) or {}).get('reason', '').startswith('timed out')
                                        for k in p['jobs'])]
        retry = [j for p in parts if p['retry_jobs'] and count_passed(p['jobs'], results) < len(p['jobs'])
                 and not any(set(q['functions']) <= set(p['functions']) | set(p['uses']) for q in hung)
                 for j in p['retry_jobs']]
        if retry:
            more, broken = run_checks(ws, retry, settings, ref_name, config['hidden_modules'],
                                      deadline=deadline, broken=broken)
            results.update(more)
        if not keep:
            shutil.rmtree(ws, ignore_errors=True)
        for r in results.values():   # the student sees paths in the submission, not in the grader's folder
            for key in ('reason', 'output'):
                if r and isinstance(r.get(key), str):
                    r[key] = r[key].replace(str(ws) + os.sep, '')
        for mod in sorted(broken):   # in the CSV too: it costs every part that runs the file
            why = broken[mod].replace(str(ws) + os.sep, '').splitlines()[0]
            broken[mod] = broken[mod].replace(str(ws) + os.sep, '')
            notes.append(why if len(why) <= 200 else why[:197] + '...')
        budget = 'the submission used up its %g s' % float(settings['timeout_submission'])
        short = sum(budget in (r or {}).get('reason', '') for r in results.values())
        if short:
            notes.append('%s: %d check(s) timed out or not run (a hang, or code too slow for '
                         '--timeout-submission)' % (budget, short))
        error = None
    except _Unread:
        error = None
    except Exception as e:  # a grader bug must not stop the class
        results, broken, flags, error = {}, {}, [], '%s: %s' % (type(e).__name__, e)
        notes = ['the grader failed on this submission (%s): grade it by hand' % error]
    scores = {}
    for p in parts:
        passed = max(count_passed(p['jobs'], results), count_passed(p['retry_jobs'], results))
        if p['partial']:
            scores[p['name']] = round(p['points'] * passed / len(p['jobs']), 2)
        else:
            scores[p['name']] = p['points'] if passed == len(p['jobs']) else 0.0
    checks = {j['id']: results.get(j['id']) for j in jobs}
    checks.update({j['id']: results[j['id']] for p in parts for j in p['retry_jobs'] if j['id'] in results})
    return {'student': name, 'path': str(path), 'scores': scores, 'total': round(sum(scores.values()), 2),
            'max': sum(p['points'] for p in parts), 'checks': checks,
            'notes': notes, 'review': flags, 'broken_modules': broken, 'grader_error': error, 'unread': unread,
            'answers': answers, 'answer_notes': answer_notes,
            'seconds': round(time.monotonic() - t0, 2), 'started': started, 'ended': time.time()}


SETTINGS = [   # key, option, what it is, smallest value
    ('timeout_check', '--timeout-cell', 'seconds', 0),
    ('timeout_submission', '--timeout-submission', 'seconds', 0),
    ('memory_mb', '--memory-mb', 'megabytes', 0),
    ('output_cap_kb', None, 'kilobytes', 0),
]


def settings_problem(settings):
    """What is wrong with the limits (from the config and the options), or None."""
    for key, option, unit, low in SETTINGS:
        value = settings.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
            where = 'settings.%s in the config%s' % (key, ' (or %s)' % option if option else '')
            return '%s must be a number of %s above %g, not %r' % (where, unit, low, value)
    return None


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def stop_on_signals():
    """SIGTERM and SIGHUP (a closed terminal, `kill`) stop grading as Ctrl-C
    does: runners killed, workspaces removed, nothing written. A signal that
    is ignored (SIGHUP under nohup) stays ignored. Returns the handlers it
    replaced (for hold_signals)."""
    def stop(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS + (signal.SIGINT,)}
    for sig in STOP_SIGNALS:
        if before[sig] is not signal.SIG_IGN:
            signal.signal(sig, stop)
    return before


def hold_signals(before):
    """Ignore SIGINT, SIGTERM and SIGHUP until restore_signals: from here on
    (the reports being written, the workspaces removed) a signal would leave
    the work half done."""
    for sig in before:
        signal.signal(sig, signal.SIG_IGN)


def restore_signals(before):
    for sig, handler in before.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def reference_problem(config, tpl, ref_name, run_root, settings):
    """Grade the instructor's own solution under the run's limits: if it does not
    score full marks, the limits or the config are wrong for every student."""
    sub = run_root / 'reference-solution'
    for rel in STUDENT_MODULES.values():
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, sub / rel)
    g = grade_one(0, sub, config, tpl, ref_name, run_root, settings, name='reference-solution')
    if g['total'] == g['max'] and not g['grader_error']:
        return None
    failed = [(cid, c) for cid, c in g['checks'].items() if c is not None and not c['ok']]
    why = g['grader_error'] or (('%s: %s' % (failed[0][0], failed[0][1]['reason'].splitlines()[0][:300]))
                                if failed else 'no check ran')
    return ('under these limits and this config the reference solution itself scores %s / %s (%s); '
            'every student would lose those points. Fix the limits (--timeout-cell, --timeout-submission, '
            '--memory-mb, [settings] in %s) or the config; nothing graded, nothing written'
            % (fmt(g['total']), fmt(g['max']), why, 'the config'))


def same_file(a, b):
    """Whether two submission paths name the same file or folder (as given
    on two command lines, perhaps from another folder)."""
    try:
        return os.path.samefile(a, b)
    except OSError:   # one of them is gone: compare the names
        return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def unique_names(paths):
    """One name per submission; two that would share one become NAME and
    NAME-2 (or the next number that no other submission has; said by main)."""
    bases = [student_name(p) for p in paths]
    taken, out = set(bases), []
    seen = set()
    for base in bases:
        name, n = base, 1
        while name in seen or (name != base and name in taken):
            n += 1
            name = '%s-%d' % (base, n)
        seen.add(name)
        out.append(name)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('submissions', nargs='+', help='folders or zip files, one per student')
    ap.add_argument('--out', required=True, help='the class CSV to write (grades.csv)')
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    ap.add_argument('--jobs', type=int, default=cores,
                    help='submissions graded at the same time (default: the number of cores)')
    ap.add_argument('--timeout-cell', type=float, help='seconds for one check (default: from the config)')
    ap.add_argument('--timeout-submission', type=float, help='seconds for one submission (default: from the config)')
    ap.add_argument('--memory-mb', type=int, help='memory limit of the checks process (default: from the config)')
    ap.add_argument('--config', default=str(GRADING / 'config.toml'))
    ap.add_argument('--keep-workspaces', action='store_true', help='keep the workspaces (to debug a check)')
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument('--merge', action='store_const', const='merge', dest='mode',
                      help='keep the students of an earlier run in --out and update only those graded now')
    mode.add_argument('--replace', action='store_const', const='replace', dest='mode',
                      help='write this run alone to --out, dropping the students of an earlier run')
    ap.add_argument('--quiet', action='store_true')
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error('--jobs must be 1 or more (submissions graded at the same time); got %d' % args.jobs)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))

    missing = [p for p in args.submissions if not os.path.exists(p)]
    if missing:
        print('grade: no such file or folder: %s\n(a pattern like submissions/*.zip that matches nothing '
              'is passed on as it is: check the path)' % ', '.join(missing), file=sys.stderr)
        return 2
    unique = []   # the same file given twice (overlapping patterns): graded once
    for p in args.submissions:
        if any(same_file(p, q) for q in unique):
            say('note: %s is given more than once; graded once' % p)
        else:
            unique.append(p)
    args.submissions = unique
    for p in args.submissions:   # `grade.py submissions` instead of `grade.py submissions/*`
        inside = submissions_inside(p)
        if len(inside) >= 3:
            shown = ', '.join(q.name for q in inside[:4]) + (', ...' if len(inside) > 4 else '')
            print('grade: %s holds %d submissions (%s), not one student\'s files: give them one by one, '
                  'e.g. %s' % (p, len(inside), shown, os.path.join(p, '*')), file=sys.stderr)
            return 2
    lone = args.submissions[0] if len(args.submissions) == 1 and os.path.isdir(args.submissions[0]) else None
    if lone:   # alone, a folder is more likely a mistake than a student: two students' zips, or nothing
        zips = [q for q in submissions_inside(lone) if q.is_file()]
        if len(zips) == 2:
            print('grade: %s holds two zips (%s) and no files of its own: if they are two students\' '
                  'submissions, give them one by one (%s); if they are one student\'s, keep the one to '
                  'grade; nothing graded' % (lone, ', '.join(q.name for q in zips), os.path.join(lone, '*.zip')),
                  file=sys.stderr)
            return 2
        if not submission_files(lone, list(STUDENT_MODULES.values())):
            print('grade: %s holds no submission: none of the student files (%s) and no zip '
                  '(is it the right folder?); nothing graded'
                  % (lone, ', '.join(STUDENT_MODULES.values())), file=sys.stderr)
            return 2
    if not os.path.isfile(args.config):
        print('grade: no config file %s (the default is %s)' % (args.config, GRADING / 'config.toml'),
              file=sys.stderr)
        return 2
    problem = out_problem(args.out)
    if problem:
        print('grade: ' + problem, file=sys.stderr)
        return 2
    snap = release.snapshot()
    notebooks = snap[1]
    try:
        config = load_config(args.config, notebooks)
    except (ConfigError, KeyError, tomllib.TOMLDecodeError) as e:
        print('grade: bad config %s: %s; nothing graded' % (args.config, e), file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as e:
        print('grade: cannot read the config %s: %s' % (args.config, e), file=sys.stderr)
        return 2
    settings = {'timeout_check': 30, 'timeout_submission': 300, 'memory_mb': 2048, 'output_cap_kb': 64}
    settings.update(config['settings'])
    for key, value in [('timeout_check', args.timeout_cell), ('timeout_submission', args.timeout_submission),
                       ('memory_mb', args.memory_mb)]:
        if value is not None:
            settings[key] = value

    problem = settings_problem(settings)
    if problem:
        print('grade: ' + problem + '; nothing graded', file=sys.stderr)
        return 2

    names = unique_names(args.submissions)
    problem, kept = check_out(args.out, names, args.mode, config['parts'])
    if problem:
        print('grade: ' + problem, file=sys.stderr)
        return 2
    try:   # to say whose grade this run changes (a JSON that cannot be read: nothing to say)
        before = {n: r for n, r in earlier_students(args.out).items() if r and n in names}
    except (OSError, ValueError, KeyError, TypeError):
        before = {}
    moved = [(n, before[n].get('path'), str(p)) for p, n in zip(args.submissions, names)
             if n in before and before[n].get('path') and not same_file(before[n]['path'], p)]
    if moved and args.mode is None:   # a late hand-in merged earlier would silently be graded from the old file
        shown = '; '.join('%s: %s, now %s' % m for m in moved[:5]) + ('; ...' if len(moved) > 5 else '')
        print('grade: %d student(s) in %s were graded from another file in the earlier run (%s). Pass '
              '--merge or --replace to grade the files given now, or give the earlier files; nothing graded'
              % (len(moved), args.out, shown), file=sys.stderr)
        return 2
    for path, name in zip(args.submissions, names):
        if name != student_name(path):
            say('note: %s is named %s: another submission is %s too' % (path, name, student_name(path)))
    run_root = Path(tempfile.mkdtemp(prefix='cs231n-grade-'))
    ex, handlers = None, stop_on_signals()
    try:
        tpl, ref_name = make_template(run_root, config, snap, notebooks)
        say('grading the reference solution first, under the same limits')
        problem = reference_problem(config, tpl, ref_name, run_root, settings)
        if problem:
            print('grade: ' + problem, file=sys.stderr)
            return 2
        say('grading %d submission(s), %d at a time' % (len(names), max(1, min(args.jobs, len(names)))))
        grades = [None] * len(names)
        t0 = time.monotonic()
        ex = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
        futures = {ex.submit(grade_one, i, p, config, tpl, ref_name, run_root, settings,
                             args.keep_workspaces, names[i]): i for i, p in enumerate(args.submissions)}
        for fut in concurrent.futures.as_completed(futures):
            i = futures[fut]
            g = fut.result()
            g['student'] = names[i]
            grades[i] = g
            marks = (['GRADER ERROR'] if g['grader_error'] else []) + \
                (['NOTE: ' + '; '.join(g['notes'])] if g['notes'] else []) + \
                (['%d review flag(s)' % len(g['review'])] if g['review'] else [])
            say('  %-24s %6s / %s  (%.1f s)%s' % (g['student'], fmt(g['total']), fmt(g['max']), g['seconds'],
                                                ''.join('  ' + m for m in marks)))
            if g['grader_error'] and args.quiet:   # --quiet prints errors all the same
                print('grade: GRADER ERROR on %s: %s: grade it by hand' % (g['student'], g['grader_error']),
                      file=sys.stderr, flush=True)
        ex.shutdown(wait=True)
        hold_signals(handlers)   # the reports are written whole, and the workspaces removed
        grades.sort(key=lambda g: g['student'])
        fb, stale = write_reports(grades, config['parts'], args.out, kept, model_answers(notebooks))
        _, json_path, _, review = report_paths(args.out)
        say('wrote %s, %s, %s, %s and %s/ in %.1f s' % (args.out, json_path, review, answers_path(args.out), fb,
                                                        time.monotonic() - t0))
        if kept:
            say('kept %d student(s) of the earlier run (--merge)' % len(kept))
        for g in grades:   # graded before, into the same reports
            old = before.get(g['student'])
            if old and (old.get('total') != g['total'] or old.get('path') != g['path']):
                say('note: %s was %s / %s in the earlier run (from %s), now %s (from %s)'
                    % (g['student'], fmt(old.get('total', 0)), fmt(g['max']), old.get('path'),
                       fmt(g['total']), g['path']))
        if stale:
            say('removed %d feedback file(s) of an earlier run from %s/ (students not in this run)' % (stale, fb))
        if args.keep_workspaces:
            say('workspaces kept in %s' % run_root)
    except KeyboardInterrupt as e:   # Ctrl-C, or SIGTERM / SIGHUP (see stop_on_signals)
        hold_signals(handlers)   # a second one would stop the clean-up half-way
        STOP.set()
        with LIVE_LOCK:
            for proc in list(LIVE):
                kill_group(proc)
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)
        kill_leftovers(RUN_ID)
        what = e.args[0] if e.args else 'SIGINT'
        print('grade: interrupted (%s); nothing written%s'
              % (what, '; workspaces kept in %s' % run_root if args.keep_workspaces else ''), file=sys.stderr)
        return 128 + getattr(signal, what, signal.SIGINT)
    finally:
        hold_signals(handlers)
        if not args.keep_workspaces:
            shutil.rmtree(run_root, ignore_errors=True)
        restore_signals(handlers)
    return 1 if any(g['grader_error'] for g in grades) else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:   # before grading started (reading the config, building notebooks)
        what = e.args[0] if e.args else 'SIGINT'
        print('grade: interrupted (%s) while starting; nothing written' % what, file=sys.stderr)
        sys.exit(128 + getattr(signal, what, signal.SIGINT))
