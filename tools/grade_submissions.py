"""The grader's reading of submissions (instructor-only; tools/grade.py uses
it): a student's files from a zip or a folder, read as untrusted data (never
extracted or executed here), and the review flags for a person to look at."""
import ast
import re
import unicodedata
import zipfile
from pathlib import Path

MAX_FILE_BYTES = 2 * 1024 * 1024       # a student source file bigger than this is refused
ALLOWED_IMPORTS = {'numpy', 'math', 'cs231n', 'typing', '__future__', 'functools', 'itertools'}


MAX_NAME = 64   # characters of a student's name (it names files: at most 255 bytes)


def student_name(path):
    """A student's name from the zip or folder name: letters (with their
    combining marks) of any script and digits kept, NFC (so a name from macOS
    matches), other runs become '_'; at most MAX_NAME characters."""
    path = Path(path)
    stem = path.stem if path.is_file() else path.name
    if path.is_file() and re.fullmatch(r'submission( ?\(\d+\)|-\d+|_\d+)?', stem.lower()):
        stem = path.parent.name
    stem = unicodedata.normalize('NFC', stem)
    kept = ''.join(c if c in '._-' or unicodedata.category(c)[0] in 'LMN' else ' ' for c in stem)
    return re.sub(r' +', '_', kept).strip('._')[:MAX_NAME] or 'student'


_ELSEWHERE = '%s: taken from %s in %s (hand in with collect_submission.sh, which puts it at %s)'


def _subfolders(folder):
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.is_symlink() and d.name != '__MACOSX')


def _zips(folder):
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == '.zip')


def holds_files(folder):
    """Whether a folder holds a student's files itself (cs231n/ at the top or one folder down)."""
    return (folder / 'cs231n').is_dir() or any((d / 'cs231n').is_dir() for d in _subfolders(folder))


def resolve(path):
    """What to read for a submission: a folder that holds no files of its own
    but one zip (submission.zip, or any one name such as 'submission (1).zip'
    from a download) is read through that zip."""
    path = Path(path)
    if not path.is_dir() or holds_files(path):
        return path
    if (path / 'submission.zip').is_file():
        return path / 'submission.zip'
    zips = _zips(path)
    return zips[0] if len(zips) == 1 else path


def submission_files(folder, student_files):
    """Whether a folder holds anything to grade: a cs231n/ folder or a zip at
    the top or one folder down, or any of the student files where
    read_submission finds them."""
    folder = Path(folder)
    if holds_files(folder) or _zips(folder) or any(_zips(d) for d in _subfolders(folder)):
        return True
    files, _ = read_submission(folder, student_files, optional=student_files)
    return any(data is not None for data in files.values())


def submissions_inside(folder):
    """The entries of a folder that look like whole submissions: zips, and
    folders holding files or a zip (a class folder given in place of its
    students)."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / 'cs231n').is_dir():
        return []
    return _zips(folder) + [d for d in _subfolders(folder) if holds_files(d) or _zips(d)]


def _pick(names, rel):
    """The one archive member that is `rel`, at the top or under one folder."""
    hits = [n for n in names if n == rel or (n.endswith('/' + rel) and n.count('/') == rel.count('/') + 1)]
    hits = [n for n in hits if '__MACOSX' not in n]
    if len(hits) > 1:
        hits = [n for n in hits if n == rel] or hits
    return hits[0] if len(hits) == 1 else (None if not hits else 'ambiguous')


def _locate(names, rel):
    """(member, elsewhere) for the student file `rel` among the submission's
    relative paths `names` (Windows separators allowed): where the assignment
    puts it (at the top or one folder down), else the one member at any depth
    that ends with `rel`, else the one named like it (rnn_layers.py at the top);
    elsewhere is True for those two. None or 'ambiguous' when not found."""
    norm = {}
    for n in names:
        m = n.replace('\\', '/')
        if not m.startswith('/') and '..' not in m.split('/') and '__MACOSX' not in m:
            norm.setdefault(m, n)
    member = _pick(list(norm), rel)
    if member is not None:
        return (norm[member] if member != 'ambiguous' else member), False
    for hits in ([m for m in norm if m.endswith('/' + rel)],
                 [m for m in norm if m.rsplit('/', 1)[-1] == rel.rsplit('/', 1)[-1]]):
        if len(hits) == 1:
            return norm[hits[0]], True
        if hits:
            return 'ambiguous', False
    return None, False


def _copies(names, rel):
    """The folders (in a zip's member names) that hold a copy of `rel`, for a
    note: 'attempt1, final'; '.' for the top."""
    norm = [n.replace('\\', '/') for n in names if '__MACOSX' not in n]
    hits = [m for m in norm if m == rel or m.endswith('/' + rel)]
    if len(hits) < 2:   # copies by the file's name alone
        name = rel.rsplit('/', 1)[-1]
        hits, rel = [m for m in norm if m.rsplit('/', 1)[-1] == name], name
    shown = sorted(m[:-len(rel)].rstrip('/') or '.' for m in hits)
    return ', '.join(shown[:5]) + (', ...' if len(shown) > 5 else '')


def _walk(folder, limit=5000):
    """Relative paths of the files under folder (no symlinks), at most limit."""
    out, todo = [], [folder]
    while todo and len(out) < limit:
        d = todo.pop()
        for e in sorted(d.iterdir()):
            if e.is_symlink() or e.name in ('.git', '__MACOSX', 'node_modules'):
                continue
            if e.is_dir():
                todo.append(e)
            elif e.is_file():
                out.append(e.relative_to(folder).as_posix())
    return out


def read_submission(path, student_files, optional=(), max_bytes=MAX_FILE_BYTES):
    """{relative path: bytes or None} of the student's files, and notes (none
    for a missing file that is `optional`)."""
    notes, files = [], {}
    path = resolve(path)
    if path.is_dir() and not holds_files(path) and len(_zips(path)) > 1:
        notes.append('%s holds several zip files (%s) and no files of its own: keep the one to grade'
                     % (path.name, ', '.join(z.name for z in _zips(path))))
        return {rel: None for rel in student_files}, notes
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as z:
                infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
                for rel in student_files:
                    member, elsewhere = _locate(list(infos), rel)
                    if member in (None, 'ambiguous'):
                        files[rel] = None
                        if member is None and rel in optional:
                            continue
                        notes.append('%s: %s in %s' % (rel, 'several copies (%s)' % _copies(list(infos), rel)
                                                       if member else 'not found', path.name))
                        continue
                    if elsewhere:
                        notes.append(_ELSEWHERE % (rel, member.replace('\\', '/'), path.name, rel))
                    info = infos[member]
                    if info.file_size > max_bytes:
                        files[rel] = None
                        notes.append('%s is %d bytes: too big, not graded' % (rel, info.file_size))
                        continue
                    with z.open(info) as f:
                        data = f.read(max_bytes + 1)
                    if len(data) > max_bytes:
                        files[rel] = None
                        notes.append('%s is too big, not graded' % rel)
                        continue
                    files[rel] = data
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as e:
            notes.append('%s is not a readable zip file (%s)' % (path.name, type(e).__name__))
            files = {rel: None for rel in student_files}
    elif path.is_dir():
        walked = None
        for rel in student_files:
            top = path / rel
            found = [top] if top.is_file() and not top.is_symlink() else \
                [d / rel for d in _subfolders(path) if (d / rel).is_file() and not (d / rel).is_symlink()]
            if not found:   # elsewhere in the folder
                walked = _walk(path) if walked is None else walked
                member, _ = _locate(walked, rel)
                if member not in (None, 'ambiguous'):
                    found = [path / member]
                    notes.append(_ELSEWHERE % (rel, member, path.name, rel))
            if len(found) != 1:
                files[rel] = None
                if not found and rel in optional:
                    continue
                notes.append('%s: %s in %s' % (rel, 'several copies (%s)' % ', '.join(
                    f.parent.relative_to(path).parts[0] for f in found) if found else 'not found', path.name))
                continue
            if found[0].stat().st_size > max_bytes:
                files[rel] = None
                notes.append('%s is too big, not graded' % rel)
                continue
            files[rel] = found[0].read_bytes()
    else:
        notes.append('%s is neither a folder nor a zip file' % path)
        files = {rel: None for rel in student_files}
    return files, notes


NOTEBOOKS = ('notebooks/RNN_Captioning.ipynb', 'notebooks/LSTM_Captioning.ipynb')
MAX_NOTEBOOK_BYTES = 40 * 1024 * 1024
UNANSWERED = '*write it here*'     # an inline question's answer cell as handed out


def inline_answers(path):
    """The student's answers to the notebooks' inline questions: a list of
    {'notebook', 'question', 'answer'} (answer None when not written), from
    the markdown cells tagged inline-answer (read as data, never run), and
    notes on notebooks that are missing or unreadable."""
    import json
    files, notes = read_submission(path, NOTEBOOKS, optional=NOTEBOOKS, max_bytes=MAX_NOTEBOOK_BYTES)
    answers = []
    for rel in NOTEBOOKS:
        name = rel.rsplit('/', 1)[-1]
        if files.get(rel) is None:
            notes.append('%s: not in the submission, so its inline answers are not either' % name)
            continue
        try:
            cells = json.loads(files[rel].decode('utf-8'))['cells']
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            notes.append('%s cannot be read as a notebook: its inline answers are not taken' % name)
            continue
        for question, src in answer_cells(cells):
            text = answer_text(src)
            answers.append({'notebook': name, 'question': question, 'answer': text or None})
    return answers, notes


def answer_text(src):
    """What the student wrote in an answer cell: its source without the
    `**Your answer:**` label and the placeholder ('' when nothing else)."""
    text = re.sub(r'^\s*\*\*Your answer:\*\*', '', src)
    return text.replace(UNANSWERED, '').strip()


def answer_cells(cells):
    """(question, source) of every markdown cell tagged inline-answer among a
    notebook's cells (dicts, as in the .ipynb JSON), the question being the
    last heading before it."""
    found, question = [], None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get('cell_type') != 'markdown':
            continue
        src = cell.get('source', '')
        src = ''.join(src) if isinstance(src, list) else str(src)
        tags = (cell.get('metadata') or {}).get('tags') or []
        if 'inline-answer' in tags:
            found.append((question or '(untitled question)', src))
        else:
            heads = [line.lstrip('#').strip() for line in src.splitlines() if line.startswith('#')]
            question = heads[-1] if heads else question
    return found


def model_answers(notebooks):
    """{(notebook, question): model answer} from the instructor's notebooks
    ({name: notebook}): what the solution regions of their answer cells say."""
    from markers import find_regions
    out = {}
    for name, nb in notebooks.items():
        for question, src in answer_cells([dict(c) for c in nb.cells]):
            lines = src.splitlines()
            regions = find_regions([l + '\n' for l in lines], name, markdown=True)
            text = '\n\n'.join('\n'.join(lines[b + 1:e]).strip() for b, e, _ in regions).strip()
            if text:
                out[(name, question)] = text
    return out


REVIEW_NAMES = {'sys', 'os', 'importlib', 'builtins', 'gc', 'inspect', 'subprocess', 'ctypes', 'types',
                'io', 'pathlib', 'shutil', 'socket', 'pickle', 'marshal', 'runpy', 'threading', 'signal'}
REVIEW_ATTRS = {'modules', '__dict__', '__globals__', '__builtins__', '__subclasses__', '__code__',
                '__closure__', '__loader__', '__spec__', '__import__', '_getframe', 'f_globals', 'f_locals',
                'f_back', 'tb_frame', 'gi_frame'}
REVIEW_CALLS = {'exec', 'eval', 'compile', '__import__', 'open', 'globals', 'locals', 'vars', 'getattr',
                'setattr', 'delattr', 'breakpoint'}
REVIEW_STRINGS = ('_ref', 'hidden_tests', '_grading', 'sys.modules', 'jobs.json')


def review_flags(files):
    """Things in the student's code worth a look by a person (no effect on the
    grade): imports from outside numpy and the package, modules such as sys or
    os reached through another module (from cs231n.image_utils import sys),
    introspection (.modules, __globals__, getattr, ...), and strings naming
    the grader's files. A heuristic: it reads the code, it does not run it."""
    flags = []

    def flag(text):
        flags.append((rel, node.lineno, text))

    for rel, data in sorted(files.items()):
        if data is None:
            continue
        try:
            tree = ast.parse(data, filename=rel)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if not hasattr(node, 'lineno'):
                continue
            at = '%s line %d' % (rel, node.lineno)
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    mods = [node.module]
                for a in node.names:
                    if a.name in REVIEW_NAMES:
                        flag('%s imports %s from %s' % (at, a.name, '.' * node.level + (node.module or '')))
            for m in mods:
                if m.split('.')[0] not in ALLOWED_IMPORTS:
                    flag('%s imports %s' % (at, m))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in REVIEW_CALLS:
                flag('%s calls %s()' % (at, node.func.id))
            elif isinstance(node, ast.Attribute) and node.attr in REVIEW_ATTRS:
                flag('%s uses .%s' % (at, node.attr))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    any(w in node.value for w in REVIEW_STRINGS):
                flag('%s has the string %r' % (at, node.value[:60]))
    return [text for _, _, text in sorted(flags, key=lambda f: f[:2])]


def _definitions(tree):
    """{qualified name: node} of the functions and classes of a module, methods
    as Class.method (nested functions stay inside their function)."""
    found = {}

    def visit(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = node
            elif isinstance(node, ast.ClassDef):
                found[prefix + node.name] = node
                visit(node.body, prefix + node.name + '.')
    visit(tree.body, '')
    return found


def _code_of(node):
    """What a definition does, without its docstring and its comments (and,
    for a class, without its methods, which are compared one by one)."""
    body = [n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] \
        if isinstance(node, ast.ClassDef) else list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    copy = type(node)(**{f: getattr(node, f) for f in node._fields})
    copy.body = body
    return ast.dump(copy, include_attributes=False)


def given_code_changes(files, handed_out):
    """Notes on code that was handed out complete (no TODO block in it) and is
    different, or gone, in the submission: what the student's own parts then
    run is not what the notebooks were checked with. Docstrings, comments and
    layout do not count; new functions do not either.

    Inputs:
    - files: {relative path: bytes or None} of the submission (read_submission)
    - handed_out: {relative path: text} of the same files as released

    Returns a list of notes, one per file with changes."""
    from markers import TODO_BEGIN
    notes = []
    for rel, data in sorted(files.items()):
        if data is None or rel not in handed_out:
            continue
        given_text = handed_out[rel]
        todo_lines = [i + 1 for i, line in enumerate(given_text.splitlines()) if TODO_BEGIN.match(line)]
        try:
            given = _definitions(ast.parse(given_text))
            theirs = _definitions(ast.parse(data))
        except (SyntaxError, ValueError):   # said elsewhere: the file does not import
            continue
        changed, removed = [], []
        for name, node in given.items():
            if isinstance(node, ast.ClassDef):
                holds_todo = False   # its methods are looked at one by one
            else:
                holds_todo = any(node.lineno <= i <= node.end_lineno for i in todo_lines)
            if holds_todo:
                continue
            if name not in theirs:
                removed.append(name)
            elif _code_of(theirs[name]) != _code_of(node):
                changed.append(name)
        if changed or removed:
            what = (['changed: ' + ', '.join(changed)] if changed else []) + \
                   (['removed: ' + ', '.join(removed)] if removed else [])
            notes.append('%s: code handed out complete (no TODO in it) was %s; the checks ran the '
                         'submission\'s version' % (rel, '; '.join(what)))
    return notes
