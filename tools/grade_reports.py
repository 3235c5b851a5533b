"""The grader's reports (instructor-only; tools/grade.py uses it): the class
CSV, the JSON with every check, and one feedback file per student."""
import csv
import json
import os
import re
from pathlib import Path


def fmt(x):
    return ('%.2f' % x).rstrip('0').rstrip('.')


TODO_LEFT = 'replace this TODO block with your code'   # the message of a TODO block as handed out


def feedback_text(g, parts):
    lines = ['Grade for %s: %s / %s' % (g['student'], fmt(g['total']), fmt(g['max'])), '']
    if g.get('unread'):   # no check ran: why, and nothing else
        return '\n'.join(lines + ['None of the graded files could be taken from your submission, so no check ran:'] +
                          ['- ' + n for n in g['notes']] +
                          ['', 'Hand in the submission.zip that `bash collect_submission.sh` makes, as it is.']) + '\n'
    missing = [n for n in g['notes'] if ': not found in ' in n or ': several copies' in n]
    if missing:   # the cause of every TODO failure below: said first
        lines += ['Files of your submission that could not be taken (graded as handed out):'] + \
                 ['- ' + n.replace('; graded as handed out', '') for n in missing] + \
                 ['Hand in with `bash collect_submission.sh`, which puts every file in its place.', '']
    width = max(len(p['name']) for p in parts)
    lines.append('%-*s  %6s  %6s' % (width, 'part', 'points', 'max'))
    for p in parts:
        got = g['scores'][p['name']]
        status = 'ok' if got == p['points'] else 'FAILED'
        lines.append('%-*s  %6s  %6s  %s' % (width, p['name'], fmt(got), fmt(p['points']), status))
    lines.append('%-*s  %6s  %6s' % (width, 'total', fmt(g['total']), fmt(g['max'])))
    failed = [p for p in parts if g['scores'][p['name']] < p['points']]
    out, imports, todos = [], {}, {}
    for p in failed:
        before = len(out)
        for j in p['jobs']:
            r = g['checks'].get(j['id']) or {'reason': 'not run'}
            if r.get('ok'):
                continue
            reason = r.get('reason') or 'failed'
            if reason.startswith('could not import'):   # said once, for all the parts it sinks
                imports.setdefault(reason, []).append(p['name'])
                continue
            if reason.startswith('NotImplementedError') and TODO_LEFT in reason:   # the same: once per block
                todos.setdefault(reason, []).append(p['name'])
                continue
            where = ' (%s)' % j['label'] if j.get('label') else ''
            out.append('- %s, %s%s: %s' % (p['name'], j['name'], where, reason))
        if len(out) == before:   # it failed only on an import or a TODO block, said above: nothing to add
            continue
        again = [g['checks'][j['id']] for j in p['retry_jobs'] if g['checks'].get(j['id'])]
        tried = [r for r in again if not r.get('reason', '').startswith('not run')]   # no time left: not tried
        if tried and not any(r.get('reason', '').startswith('could not import') for r in tried):
            why = next((r.get('reason') or 'failed' for r in tried if not r.get('ok')), None)
            first = {(g['checks'].get(j['id']) or {}).get('reason') for j in p['jobs']}
            left = '' if len(tried) == len(again) else ' (%d of its checks not run)' % (len(again) - len(tried))
            out.append('  tried again with your own %s (not the reference\'s): %s%s'
                       % (', '.join(p['uses']), 'the same' if why in first else why or 'passed', left))
        # parts whose functions this one runs too, and which failed themselves
        # (whose code, with what it builds on, is within this part's: the LSTM
        # loss part is not inside the RNN overfit part, though both run the loss)
        inner = [q['name'] for q in failed if q is not p and set(q['functions']) < set(p['functions'])
                 and set(q['functions']) | set(q['uses']) <= set(p['functions']) | set(p['uses'])]
        if inner:
            out.append('  this part also runs the code of %s, which failed too: fix %s first'
                       % (', '.join(inner), 'that' if len(inner) == 1 else 'those'))
    out[:0] = ['- %s: %s' % (', '.join(dict.fromkeys(names)), reason)
               for reason, names in list(imports.items()) + list(todos.items())]
    if out:
        lines += ['', 'Failed checks:'] + out
    # an import failure is in the notes too (for the CSV): said above already
    notes = [n for n in g['notes'] if n not in missing and
             not any(r.startswith(n[:-3] if n.endswith('...') else n) for r in imports)]
    if notes:
        lines += ['', 'Notes:'] + ['- ' + n for n in notes]
    return '\n'.join(lines) + '\n'


def review_text(grades):
    """The review flags of the whole class, for the instructor only."""
    flagged = [g for g in grades if g['review']]
    lines = ['For the instructor, not for the students: what in these submissions looks like',
             'reaching beyond the assignment (no effect on the grades). %d of %d submissions.'
             % (len(flagged), len(grades))]
    for g in flagged:
        lines += ['', g['student'] + ':'] + ['- ' + f for f in g['review']]
    return '\n'.join(lines) + '\n'


def fenced(text):
    """A student's answer as a code block, shown as written: its headings,
    fences or HTML cannot pass for another student's entry or end the block
    (the fence is longer than any run of backticks in it)."""
    runs = [len(r) for r in re.findall(r'`+', text)]
    fence = '`' * max(3, max(runs, default=0) + 1)
    return '%stext\n%s\n%s' % (fence, text.strip('\n'), fence)


def answers_text(grades, models=None):
    """Every student's answers to the inline questions, question by question
    (for the instructor to mark by hand), each question with its model answer
    from `models` ({(notebook, question): text}) when there is one."""
    from grade_submissions import NOTEBOOKS
    models = models or {}
    order = list(models)     # (notebook, question) in the order they come
    for g in grades:
        for a in g.get('answers') or []:      # (none in the records of older runs)
            if (a['notebook'], a['question']) not in order:
                order.append((a['notebook'], a['question']))
    rank = [Path(n).name for n in NOTEBOOKS]  # the assignment's order: the RNN notebook first
    order.sort(key=lambda k: rank.index(k[0]) if k[0] in rank else len(rank))
    lines = ['# Inline answers', '',
             'For the instructor: the answers %d submissions give to the notebooks\' inline questions, '
             'to read and mark by hand (the grades in the CSV do not count them).' % len(grades)]
    for nb, q in order:
        lines += ['', '## %s: %s' % (nb, q)]
        if (nb, q) in models:
            lines += [''] + [('> ' + line).rstrip() for line in models[(nb, q)].splitlines()]
        for g in grades:
            got = [a['answer'] for a in g.get('answers') or [] if (a['notebook'], a['question']) == (nb, q)]
            missing = any(n.startswith(nb + ' ') or n.startswith(nb + ':') for n in g.get('answer_notes') or [])
            text = (fenced(got[0]) if got and got[0] else '*(not answered)*' if got else
                    '*(notebook not handed in, or not readable)*' if missing else '*(no answer cell in the notebook)*')
            lines += ['', '### %s' % g['student'], '', text]
    noted = [g for g in grades if g.get('answer_notes')]
    if noted:
        lines += ['', '## Notebooks not read']
        for g in noted:
            lines += ['', '- %s: %s' % (g['student'], '; '.join(g['answer_notes']))]
    return '\n'.join(lines) + '\n'


def answers_path(out_csv):
    out_csv = Path(out_csv)
    return out_csv.parent / (out_csv.stem + '_answers.md')


def report_paths(out_csv):
    """(csv, json, feedback folder, review file) named after the CSV."""
    out_csv = Path(out_csv)
    return (out_csv, out_csv.with_suffix('.json'), out_csv.parent / (out_csv.stem + '_feedback'),
            out_csv.parent / (out_csv.stem + '_review.txt'))


def earlier_students(out_csv):
    """The students an earlier run wrote into these reports: {name: its JSON
    record, or None when only a CSV row or a feedback file is left}."""
    csv_path, json_path, fb, _ = report_paths(out_csv)
    found = {}
    if fb.is_dir():
        found.update((f.stem, None) for f in fb.glob('*.txt'))
    if csv_path.is_file():
        with open(csv_path, newline='', encoding='utf-8') as f:
            found.update((row['student'], None) for row in csv.DictReader(f) if row.get('student'))
    if json_path.is_file():
        found.update((s['student'], s) for s in json.loads(json_path.read_text(encoding='utf-8'))['students'])
    return found


def parts_summary(parts):
    return [{'name': p['name'], 'points': p['points'], 'partial': p['partial'], 'functions': p['functions'],
             'uses': p['uses'], 'checks': [j['name'] for j in p['jobs']]} for p in parts]


def write_reports(grades, parts, out_csv, kept=(), models=None):
    """Write the CSV, the JSON, the review file, a feedback file for each of
    `grades` and the inline answers, with the model answers `models` (from
    model_answers). `kept`: JSON records of students graded earlier, kept as
    they are (their feedback files are written again from them). Any other feedback
    file in the folder is of a student in neither and is removed, lest it be
    handed back by mistake.
    Returns (feedback folder, number of files removed)."""
    out_csv, json_path, fb, review = report_paths(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    everyone = sorted(list(kept) + list(grades), key=lambda g: g['student'])
    names = [p['name'] for p in parts]
    with open(out_csv, 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['student'] + names + ['total', 'notes', 'review_flags', 'max', 'file'])
        most = sum(p['points'] for p in parts)
        for g in everyone:
            w.writerow([g['student']] + [fmt(g['scores'][n]) for n in names] + [fmt(g['total'])]
                       + ['; '.join(g['notes']), len(g['review']), fmt(most), g.get('path', '')])
    fb.mkdir(exist_ok=True)
    current = {g['student'] + '.txt' for g in everyone}
    stale = sorted(f for f in fb.glob('*.txt') if f.name not in current)
    for f in stale:
        f.unlink()
    for g in everyone:   # the kept students' too: the same text, or today's form of it
        (fb / (g['student'] + '.txt')).write_text(feedback_text(g, parts), encoding='utf-8')
    review.write_text(review_text(everyone), encoding='utf-8')
    answers_path(out_csv).write_text(answers_text(everyone, models), encoding='utf-8')
    details = {'parts': parts_summary(parts), 'students': everyone}
    json_path.write_text(json.dumps(details, indent=1, sort_keys=True), encoding='utf-8')
    return fb, len(stale)



def count_passed(jobs, results):
    """How many of `jobs` passed (0 for none, or none run)."""
    return sum(bool((results.get(j['id']) or {}).get('ok')) for j in jobs)


def out_problem(out):
    """Why the reports named after `out` could not be written (checked before
    any grading, so a class is not graded for nothing), or None."""
    csv_path, json_path, fb, review = report_paths(out)
    for p in (csv_path, json_path, review, answers_path(out)):
        if p.is_dir():
            return '%s is a folder: --out must name a file, such as results/grades.csv' % p
    if fb.exists() and not fb.is_dir():
        return '%s is a file, where the feedback folder goes: move it or choose another --out' % fb
    above = next(p for p in [csv_path.parent, *csv_path.parent.parents] if p.exists())
    if not above.is_dir():
        return 'cannot write %s: %s is a file, not a folder' % (csv_path, above)
    if not os.access(above, os.W_OK | os.X_OK):
        return 'cannot write in %s (no permission): choose another --out' % above
    for p in (csv_path, json_path, review, answers_path(out)):
        if p.exists() and not os.access(p, os.W_OK):
            return 'cannot overwrite %s (no permission): choose another --out' % p
    return None


def check_out(out, names, mode, parts):
    """What an earlier run left in the reports named after `out`, checked
    before any grading: (error message or None, JSON records to keep)."""
    if Path(out).suffix.lower() != '.csv':
        return ('--out must name a .csv file, such as results/grades.csv (the JSON, the review file '
                'and the feedback folder are named after it)'), []
    earlier = earlier_students(out)
    others = sorted(set(earlier) - set(names))
    if mode == 'replace' or not others:
        return None, []
    _, json_path, fb, _ = report_paths(out)
    if mode is None:
        shown = ', '.join(others[:5]) + (', ...' if len(others) > 5 else '')
        return ('%s (or %s/) already holds the grades of %d student(s) not in this run (%s). Pass --merge '
                'to keep them and update only the students graded now, --replace to write this run '
                'alone (their rows and feedback files go), or another --out'
                % (out, fb, len(others), shown)), []
    if not json_path.is_file() or any(earlier[n] is None for n in others):
        return ('cannot merge into %s: %s is missing or lacks some of its students; grade them '
                'again, or use --replace or another --out' % (out, json_path)), []
    old_parts, now = json.loads(json_path.read_text(encoding='utf-8'))['parts'], parts_summary(parts)
    # what an older grader did not record (partial, uses) is not held against it
    if len(old_parts) != len(now) or any(a.get(k, b[k]) != b[k] for a, b in zip(old_parts, now) for k in b):
        if len(old_parts) == len(now):
            diffs = ['%s of %s' % (k, b['name']) + (' (%s then, %s now)' % (fmt(a[k]), fmt(b[k])) if k == 'points' else '')
                     for a, b in zip(old_parts, now) for k in b if a.get(k, b[k]) != b[k]]
            what = ', '.join(diffs[:4]) + (', ...' if len(diffs) > 4 else '')
        else:
            what = 'the parts: %d then, %d now' % (len(old_parts), len(now))
        return ('cannot merge into %s: it was graded with another config than this one (%s), so one '
                'file would mix two ways of scoring; grade everyone again (--replace) or use another --out'
                % (out, what)), []
    return None, [earlier[n] for n in others]
