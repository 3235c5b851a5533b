"""The grader's reports (instructor-only; tools/grade.py uses it): the class
CSV, the JSON with every check, and one feedback file per student."""
import csv
import json
from pathlib import Path


def fmt(x):
    return ('%.2f' % x).rstrip('0').rstrip('.')


def feedback_text(g, parts):
    lines = ['Grade for %s: %s / %s' % (g['student'], fmt(g['total']), fmt(g['max'])), '']
    width = max(len(p['name']) for p in parts)
    lines.append('%-*s  %6s  %6s' % (width, 'part', 'points', 'max'))
    for p in parts:
        got = g['scores'][p['name']]
        status = 'ok' if got == p['points'] else 'FAILED'
        lines.append('%-*s  %6s  %6s  %s' % (width, p['name'], fmt(got), fmt(p['points']), status))
    lines.append('%-*s  %6s  %6s' % (width, 'total', fmt(g['total']), fmt(g['max'])))
    failed = [p for p in parts if g['scores'][p['name']] < p['points']]
    out, imports = [], {}
    for p in failed:
        for j in p['jobs']:
            r = g['checks'].get(j['id']) or {'reason': 'not run'}
            if r.get('ok'):
                continue
            reason = r.get('reason') or 'failed'
            if reason.startswith('could not import'):   # said once, for all the parts it sinks
                imports.setdefault(reason, []).append(p['name'])
                continue
            where = ' (%s)' % j['label'] if j.get('label') else ''
            out.append('- %s, %s%s: %s' % (p['name'], j['name'], where, reason))
        again = [g['checks'][j['id']] for j in p['retry_jobs'] if g['checks'].get(j['id'])]
        if again and not any(r.get('reason', '').startswith('could not import') for r in again):
            why = next((r.get('reason') or 'failed' for r in again if not r.get('ok')), None)
            first = {(g['checks'].get(j['id']) or {}).get('reason') for j in p['jobs']}
            out.append('  tried again with your own %s (not the reference\'s): %s'
                       % (', '.join(p['uses']), 'the same' if why in first else why or 'passed'))
        # parts whose functions this one runs too, and which failed themselves
        inner = [q['name'] for q in failed if q is not p and set(q['functions']) < set(p['functions'])]
        if inner:
            out.append('  this part also runs the code of %s, which failed too: fix %s first'
                       % (', '.join(inner), 'that' if len(inner) == 1 else 'those'))
    for reason, names in imports.items():
        out.insert(0, '- %s: %s' % (', '.join(dict.fromkeys(names)), reason))
    if out:
        lines += ['', 'Failed checks:'] + out
    if g['notes']:
        lines += ['', 'Notes:'] + ['- ' + n for n in g['notes']]
    if g['review']:
        lines += ['', 'For the instructor to review (no effect on the grade):'] + ['- ' + f for f in g['review']]
    return '\n'.join(lines) + '\n'


def write_reports(grades, parts, out_csv):
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    names = [p['name'] for p in parts]
    with open(out_csv, 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f)
        w.writerow(['student'] + names + ['total'])
        for g in grades:
            w.writerow([g['student']] + [fmt(g['scores'][n]) for n in names] + [fmt(g['total'])])
    fb = out_csv.parent / (out_csv.stem + '_feedback')
    fb.mkdir(exist_ok=True)
    # feedback files of an earlier run into the same place, for students not
    # in this one, would be handed back by mistake: they go
    current = {g['student'] + '.txt' for g in grades}
    stale = sorted(f for f in fb.glob('*.txt') if f.name not in current)
    for f in stale:
        f.unlink()
    for g in grades:
        (fb / (g['student'] + '.txt')).write_text(feedback_text(g, parts), encoding='utf-8')
    details = {'parts': [{'name': p['name'], 'points': p['points'], 'functions': p['functions'],
                          'checks': [j['name'] for j in p['jobs']]} for p in parts],
               'students': grades}
    out_csv.with_suffix('.json').write_text(json.dumps(details, indent=1, sort_keys=True), encoding='utf-8')
    return fb, len(stale)



def count_passed(jobs, results):
    """How many of `jobs` passed (0 for none, or none run)."""
    return sum(bool((results.get(j['id']) or {}).get('ok')) for j in jobs)
