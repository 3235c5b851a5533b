"""The grader's configuration (instructor-only): grading/config.toml read and
checked against the notebooks and grading/hidden_tests, every check resolved
to what the runner needs (tools/grade.py)."""
import ast
import difflib
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRADING = ROOT / 'grading'
sys.path.insert(0, str(ROOT / 'tools'))
from release import tomllib  # noqa: E402

KNOWN_FUNCTIONS = ['rnn_step_forward', 'rnn_step_backward', 'rnn_forward', 'rnn_backward',
                   'word_embedding_forward', 'word_embedding_backward',
                   'lstm_step_forward', 'lstm_step_backward', 'lstm_forward', 'lstm_backward',
                   'CaptioningRNN.loss', 'CaptioningRNN.sample']
STUDENT_MODULES = {'cs231n.rnn_layers': 'cs231n/rnn_layers.py',
                   'cs231n.classifiers.rnn': 'cs231n/classifiers/rnn.py',
                   # handed out empty (the reference's fast sequence layers are
                   # solution-only); a student may put helpers there
                   'cs231n.rnn_fast': 'cs231n/rnn_fast.py'}


class ConfigError(Exception):
    pass


def hidden_functions():
    """{function name: module name} of the public functions of grading/hidden_tests/checks_*.py."""
    found = {}
    for path in sorted((GRADING / 'hidden_tests').glob('checks_*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith('_'):
                if node.name in found:
                    raise ConfigError('hidden check %s is defined twice (%s and %s)'
                                      % (node.name, found[node.name], path.stem))
                found[node.name] = path.stem
    return found


def cell_label(nb, i, name):
    """Where cell i of a notebook is, as a student finds it in JupyterLab: the
    heading of its section and its number among the section's code cells."""
    heading, k = None, 0
    for cell in nb.cells[:i + 1]:
        if cell.cell_type == 'markdown':
            titles = [line.lstrip('#').strip() for line in cell.source.splitlines() if line.startswith('#')]
            if titles:
                heading, k = titles[-1], 0
        elif cell.cell_type == 'code':
            k += 1
    if heading is None:
        return '%s, code cell %d' % (name, k)
    return '%s, section "%s", code cell %d of the section' % (name, heading, k)


SETTINGS = {'student_files': 'strings', 'timeout_check': 'number', 'timeout_submission': 'number',
            'memory_mb': 'number', 'output_cap_kb': 'number'}
VISIBLE = {'notebook': str, 'cell': str, 'inject': str}
PART = {'name': str, 'points': 'number', 'partial': bool, 'functions': 'strings', 'uses': 'strings',
        'checks': 'strings'}
TYPE_NAMES = {str: 'a string in quotes', bool: 'true or false (no quotes)', dict: 'a table',
              list: 'a list of tables ([[...]])', 'strings': 'a list of strings ["..."]',
              'number': 'a number (no quotes)'}


def check_table(where, table, allowed, required=()):
    """Refuse keys not in `allowed` (naming the closest known one), values of
    the wrong type, and `required` keys that are missing; `where` names the table."""
    if not isinstance(table, dict):
        raise ConfigError('%s must be a table' % where)
    for key, value in table.items():
        if key not in allowed:
            near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
            raise ConfigError('%s: unknown key %r%s (known: %s)' % (
                where, key, '; did you mean %r?' % near[0] if near else '', ', '.join(allowed)))
        kind = allowed[key]
        if kind == 'number':
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif kind == 'strings':
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, kind)
        if not ok:
            raise ConfigError('%s: %s must be %s; got %r' % (where, key, TYPE_NAMES[kind], value))
    missing = [k for k in required if k not in table]
    if missing:
        raise ConfigError('%s: %s missing (%s)' % (where, ' and '.join(missing), ', '.join(
            '%s = %s' % (k, TYPE_NAMES[allowed[k]]) for k in missing)))


def load_config(path, notebooks):
    """The parts, with every check resolved to what the runner needs."""
    cfg = tomllib.loads(Path(path).read_text(encoding='utf-8'))
    check_table('the config', cfg, {'settings': dict, 'visible': dict, 'part': list})
    settings = cfg.get('settings', {})
    check_table('[settings]', settings, SETTINGS)
    for vname, v in cfg.get('visible', {}).items():
        check_table('[visible] %s' % vname, v, VISIBLE, required=('notebook', 'cell'))
    for k, p in enumerate(cfg.get('part', [])):
        where = '[[part]] %s' % (repr(p['name']) if isinstance(p, dict) and isinstance(p.get('name'), str)
                                 else 'number %d' % (k + 1))
        check_table(where, p, PART, required=('name', 'points', 'checks'))
        if not (math.isfinite(p['points']) and p['points'] >= 0):
            raise ConfigError('%s: points must be a number, 0 or more; got %r' % (where, p['points']))
    hidden = hidden_functions()
    setup = {}
    graded = {v.get('notebook') for v in cfg.get('visible', {}).values()}
    for name, nb in notebooks.items():
        cells = [c.source for c in nb.cells if c.cell_type == 'code' and 'def rel_error' in c.source]
        if cells:
            setup[name] = cells[0]
        elif name in graded:  # notebooks without checks (the explorer) need none
            raise ConfigError('%s has no setup cell (a code cell defining rel_error)' % name)
    visible = {}
    for vname, v in cfg.get('visible', {}).items():
        nb = notebooks.get(v.get('notebook'))
        if nb is None:
            raise ConfigError('visible check %s: no notebook %r (there are %s)'
                              % (vname, v.get('notebook'), ', '.join(notebooks)))
        hits = [(i, c.source) for i, c in enumerate(nb.cells)
                if c.cell_type == 'code' and v['cell'] in c.source]
        if len(hits) != 1:
            raise ConfigError('visible check %s: %d code cells of %s contain %r (it must be exactly one)'
                              % (vname, len(hits), v['notebook'], v['cell']))
        if v.get('inject') and v['inject'] not in hidden:
            raise ConfigError('visible check %s: inject function %s is not in grading/hidden_tests'
                              % (vname, v['inject']))
        i, source = hits[0]
        visible[vname] = {'kind': 'visible', 'notebook': v['notebook'], 'setup': setup[v['notebook']],
                          'cell': source, 'label': cell_label(nb, i, v['notebook']),
                          'inject': v.get('inject')}
    parts, names = [], set()
    for p in cfg.get('part', []):
        name = p.get('name')
        if not name or name in names or not re.fullmatch(r'[A-Za-z0-9_]+', name):
            raise ConfigError('part %r: every part needs a unique name of letters, digits and _' % name)
        names.add(name)
        functions = list(p.get('functions', []))
        uses = [f for f in p.get('uses', []) if f not in functions]
        bad = [f for f in functions + uses if f not in KNOWN_FUNCTIONS]
        if bad:
            raise ConfigError('part %s: unknown functions %s (known: %s)'
                              % (name, bad, ', '.join(KNOWN_FUNCTIONS)))
        if not p.get('checks'):
            raise ConfigError('part %s has no checks' % name)
        jobs = []
        for check in p['checks']:
            kind, _, cname = check.partition(':')
            if kind == 'visible' and cname in visible:
                job = dict(visible[cname])
            elif kind == 'hidden' and cname in hidden:
                job = {'kind': 'hidden', 'check': cname, 'module': hidden[cname]}
            else:
                raise ConfigError('part %s: unknown check %r (use visible:NAME from [visible] or '
                                  'hidden:NAME from grading/hidden_tests)' % (name, check))
            job.update(id='%s/%s' % (name, check), part=name, name=check, functions=functions,
                       partial=bool(p.get('partial', False)))
            jobs.append(job)
        # the same checks again with the student's own versions of what the
        # part's functions build on (tried when the first round fails)
        retry = [dict(j, id=j['id'] + '+own', functions=functions + uses) for j in jobs] if uses else []
        parts.append({'name': name, 'points': float(p['points']), 'partial': bool(p.get('partial', False)),
                      'functions': functions, 'uses': uses, 'jobs': jobs, 'retry_jobs': retry})
    if not parts:
        raise ConfigError('%s defines no [[part]]' % path)
    student_files = settings.get('student_files', list(STUDENT_MODULES.values()))
    if sorted(student_files) != sorted(STUDENT_MODULES.values()):
        raise ConfigError('settings.student_files must be %s' % sorted(STUDENT_MODULES.values()))
    return {'parts': parts, 'settings': settings, 'hidden_modules': sorted(set(hidden.values()))}
