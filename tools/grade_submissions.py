"""The grader's reading of submissions (instructor-only; tools/grade.py uses
it): a student's files from a zip or a folder, read as untrusted data (never
extracted or executed here), and the review flags for a person to look at."""
import ast
import re
import zipfile
from pathlib import Path

MAX_FILE_BYTES = 2 * 1024 * 1024       # a student source file bigger than this is refused
ALLOWED_IMPORTS = {'numpy', 'math', 'cs231n', 'typing', '__future__', 'functools', 'itertools'}


def student_name(path):
    path = Path(path)
    stem = path.stem if path.is_file() else path.name
    if path.is_file() and re.fullmatch(r'submission( ?\(\d+\)|-\d+|_\d+)?', stem.lower()):
        stem = path.parent.name
    return re.sub(r'[^A-Za-z0-9._-]+', '_', stem).strip('._') or 'student'


def _pick(names, rel):
    """The one archive member that is `rel`, at the top or under one folder."""
    hits = [n for n in names if n == rel or (n.endswith('/' + rel) and n.count('/') == rel.count('/') + 1)]
    hits = [n for n in hits if '__MACOSX' not in n]
    if len(hits) > 1:
        hits = [n for n in hits if n == rel] or hits
    return hits[0] if len(hits) == 1 else (None if not hits else 'ambiguous')


def read_submission(path, student_files, optional=()):
    """{relative path: bytes or None} of the student's files, and notes (none
    for a missing file that is `optional`)."""
    path = Path(path)
    notes, files = [], {}
    if path.is_dir() and not (path / 'cs231n').is_dir() and (path / 'submission.zip').is_file():
        path = path / 'submission.zip'
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as z:
                infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
                for rel in student_files:
                    member = _pick(list(infos), rel)
                    if member in (None, 'ambiguous'):
                        files[rel] = None
                        if member is None and rel in optional:
                            continue
                        notes.append('%s: %s in %s' % (rel, 'several copies' if member else 'not found', path.name))
                        continue
                    info = infos[member]
                    if info.file_size > MAX_FILE_BYTES:
                        files[rel] = None
                        notes.append('%s is %d bytes: too big, not graded' % (rel, info.file_size))
                        continue
                    with z.open(info) as f:
                        data = f.read(MAX_FILE_BYTES + 1)
                    if len(data) > MAX_FILE_BYTES:
                        files[rel] = None
                        notes.append('%s is too big, not graded' % rel)
                        continue
                    files[rel] = data
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as e:
            notes.append('%s is not a readable zip file (%s)' % (path.name, type(e).__name__))
            files = {rel: None for rel in student_files}
    elif path.is_dir():
        for rel in student_files:
            candidates = [path / rel] + sorted(d / rel for d in path.iterdir() if d.is_dir() and not d.is_symlink())
            found = [c for c in candidates if c.is_file() and not c.is_symlink()]
            if not found:
                files[rel] = None
                if rel in optional:
                    continue
                notes.append('%s not found in %s' % (rel, path.name))
                continue
            if found[0].stat().st_size > MAX_FILE_BYTES:
                files[rel] = None
                notes.append('%s is too big, not graded' % rel)
                continue
            files[rel] = found[0].read_bytes()
    else:
        notes.append('%s is neither a folder nor a zip file' % path)
        files = {rel: None for rel in student_files}
    return files, notes


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
