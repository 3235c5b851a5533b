"""Write the student version of the assignment (instructor-only).

    python tools/release.py OUT_DIR            # OUT_DIR must be new or empty
    python tools/release.py OUT_DIR --force    # replace an earlier release in OUT_DIR
                                               # (its .git is kept)
    python tools/release.py --verify OUT_DIR   # restore the solution into a release
                                               # and compare with this repo

The solution code in cs231n/ and in the notebook sources marks every student
part with `### BEGIN SOLUTION` / `### END SOLUTION`. In the release each such
region becomes a TODO block: comments saying what to compute, the shapes and a
hint (from grading/hints.toml), then `raise NotImplementedError(...)` naming the
function and the file. Everything around a region stays as it is. A region at
the top level of a Python file, outside any function (helpers that only the
solution uses), is left out of the release altogether.

The notebooks are built from notebooks/src/ with tools/build_notebooks.py and
released with every output cleared: the student runs them. In their markdown
cells, a region between `<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->`
lines (the model answer to an inline question) is left out. Instructor-only
files (grading/, tools/, tests/, benchmarks/, notebooks/src/) are left out;
grading/student_README.md becomes README.md and grading/collect_submission.sh
becomes collect_submission.sh.

A release is deterministic: building twice gives byte-identical files with the
same modes (no timestamps, sorted order).
"""
import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tools'))
from markers import (HINTS, TODO_BEGIN, ReleaseError, find_regions, load_hints,  # noqa: E402,F401
                     python_keys, restore_text, strip_markdown, strip_text, tomllib)

# What goes into the release, besides cs231n/ and the notebooks:
# (path in the release, path in this repo, required)
EXTRA_FILES = [
    ('README.md', 'grading/student_README.md', True),
    ('collect_submission.sh', 'grading/collect_submission.sh', True),
    ('datasets/README.md', 'datasets/README.md', False),
    ('get_datasets.sh', 'get_datasets.sh', True),
    ('scripts/setup.sh', 'scripts/setup.sh', True),
    ('pyproject.toml', 'pyproject.toml', True),
    ('environment.yml', 'environment.yml', True),
    ('.gitignore', '.gitignore', False),
]
# Never in a release, whatever else changes.
INSTRUCTOR_ONLY = ('grading/', 'tools/', 'tests/', 'benchmarks/', 'notebooks/src/', '.ci/')


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------

def student_python(relpath, text, hints):
    """The student version of one Python file of this repo, and the keys of its regions."""
    lines = text.splitlines(keepends=True)
    regions = find_regions(lines, relpath)
    if not regions:
        return text, []
    keys = python_keys(text, regions, relpath)
    whats = ['%s in %s' % (k, relpath) for k in keys]
    return strip_text(text, keys, hints, whats, relpath), [k for k in keys if k is not None]


def _build_notebooks_module():
    spec = importlib.util.spec_from_file_location('_build_notebooks', ROOT / 'tools' / 'build_notebooks.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def solution_notebooks():
    """{name: notebook} built from notebooks/src, without outputs (the solution)."""
    bn = _build_notebooks_module()
    return {nb_name: bn.build(bn.SRC / src_name) for src_name, nb_name in sorted(bn.NOTEBOOKS.items())}


def student_notebook(name, nb, hints):
    """The student version of a notebook: regions replaced, outputs cleared.
    Returns (notebook, keys)."""
    import copy
    nb = copy.deepcopy(nb)
    keys = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == 'code':
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop('execution', None)
        lines = cell.source.splitlines(keepends=True)
        where = '%s cell %d' % (name, i)
        if cell.cell_type == 'markdown':      # a model answer: left out
            cell.source = strip_markdown(cell.source, where)
            continue
        regions = find_regions(lines, where)
        if not regions:
            continue
        if cell.cell_type != 'code':
            raise ReleaseError('%s: solution markers in a %s cell' % (where, cell.cell_type))
        cell_keys = ['%s:%d' % (name, len(keys) + k + 1) for k in range(len(regions))]
        whats = ['%s in notebooks/%s' % (hints.get(k, {}).get('title', k), name) for k in cell_keys]
        cell.source = strip_text(cell.source, cell_keys, hints, whats, '%s cell %d' % (name, i))
        keys += cell_keys
    return nb, keys


def notebook_bytes(nb):
    import nbformat
    text = nbformat.writes(nb, version=4)
    return (text if text.endswith('\n') else text + '\n').encode('utf-8')


def _mode(path):
    return 0o755 if os.stat(path).st_mode & 0o111 else 0o644


def package_files():
    """Relative paths of the package's files, sorted (no caches)."""
    out = []
    for p in sorted((ROOT / 'cs231n').rglob('*')):
        rel = p.relative_to(ROOT).as_posix()
        if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts \
                and not rel.endswith(('.pyc', '.pyo')):
            out.append(rel)
    return out


def snapshot():
    """The solution as it is now, read once: {relative path: bytes} of the
    package files and {name: notebook} of the notebooks (other people may be
    editing the files while a release is built)."""
    return ({rel: (ROOT / rel).read_bytes() for rel in package_files()}, solution_notebooks())


def release_files(hints=None, warn=print, snap=None):
    """{relative path: (bytes, mode)} of the student release, and the region keys used."""
    hints = load_hints() if hints is None else hints
    package, notebooks = snapshot() if snap is None else snap
    files, used = {}, []
    for rel, data in package.items():
        if rel.endswith('.py'):
            text, keys = student_python(rel, data.decode('utf-8'), hints)
            data, used = text.encode('utf-8'), used + keys
        files[rel] = (data, _mode(ROOT / rel))
    for name, nb in notebooks.items():
        student, keys = student_notebook(name, nb, hints)
        files['notebooks/' + name] = (notebook_bytes(student), 0o644)
        used += keys
    for dest, src, required in EXTRA_FILES:
        path = ROOT / src
        if not path.is_file():
            if required:
                raise ReleaseError('%s is missing: it is part of every release' % src)
            warn('release: %s is not there yet: the release goes without it' % src)
            continue
        files[dest] = (path.read_bytes(), _mode(path))
    unused = sorted(set(hints) - set(used))
    if unused:
        raise ReleaseError('%s has hints for regions that do not exist (renamed?): %s'
                           % (HINTS.relative_to(ROOT), ', '.join(unused)))
    for rel in files:
        if rel.startswith(INSTRUCTOR_ONLY):
            raise ReleaseError('%s is instructor-only and must not be released' % rel)
    self_check(files, (package, notebooks))
    return files, used


# ----------------------------------------------------------------------------
# What the solution looks like, for scans
# ----------------------------------------------------------------------------

def normalize(line):
    """A line of code without its comment and surrounding blanks."""
    return line.split('#', 1)[0].strip()


def scan_candidates(line):
    """What a released line could leak a solution line through: its code, its
    comment, and its comment without a leading label such as 'Hint: '."""
    code, _, comment = line.partition('#')
    comment = comment.strip().lstrip('#').strip()
    out = {code.strip(), comment}
    m = re.match(r'^[A-Za-z ]{1,20}:\s+(.*)$', comment)
    if m:
        out.add(m.group(1).strip())
    return out


def solution_sources(snap=None):
    """{where: text} of every file of this repo that has solution regions
    (notebook cells as separate entries)."""
    package, notebooks = snapshot() if snap is None else snap
    out = {}
    for rel, data in package.items():
        if rel.endswith('.py'):
            text = data.decode('utf-8')
            if find_regions(text.splitlines(keepends=True), rel):
                out[rel] = text
    for name, nb in notebooks.items():
        for i, cell in enumerate(nb.cells):
            out['notebooks/%s cell %d%s' % (name, i, MARKDOWN if cell.cell_type == 'markdown' else '')] = cell.source
    return out


MARKDOWN = ' (markdown)'   # the end of solution_sources' name for a markdown cell


def solution_lines(min_len=8, snap=None):
    """The non-trivial lines of code of the solution regions: at least min_len
    characters once the comment is gone, and not also a line of the code
    outside the regions (given code such as `N, T, D = x.shape`)."""
    inside, outside = set(), set()
    for where, text in solution_sources(snap).items():
        lines = text.splitlines()
        marked = set()
        for b, e, _ in find_regions([l + '\n' for l in lines], where, where.endswith(MARKDOWN)):
            marked.update(range(b + 1, e))
        for i, line in enumerate(lines):
            n = normalize(line)
            (inside if i in marked else outside).add(n)
    return {n for n in inside - outside if len(n) >= min_len}


def released_lines(rel, data):
    """The lines of a released file to scan (notebooks: the cells' text)."""
    text = data.decode('utf-8', errors='replace')
    if rel.endswith('.ipynb'):
        import json
        nb = json.loads(text)
        text = '\n'.join(''.join(c['source']) if isinstance(c['source'], list) else c['source']
                         for c in nb['cells'])
    return text.splitlines()


def self_check(files, snap=None):
    """Refuse a release that still holds a marker or a line of solution code."""
    bad = solution_lines(snap=snap)
    for rel, (data, _) in sorted(files.items()):
        for i, line in enumerate(released_lines(rel, data)):
            if 'BEGIN SOLUTION' in line or 'END SOLUTION' in line:
                raise ReleaseError('%s: a solution marker is left in the release' % rel)
            if scan_candidates(line) & bad:
                raise ReleaseError('%s: line %d of the release is solution code: %r'
                                   % (rel, i + 1, line.strip()))


# ----------------------------------------------------------------------------
# Writing and verifying
# ----------------------------------------------------------------------------

def _check_out_dir(out):
    out = out.resolve()
    if out == ROOT or ROOT.is_relative_to(out):
        raise ReleaseError('%s holds this repository: choose another output folder' % out)
    if out.is_relative_to(ROOT):
        top = out.relative_to(ROOT).parts[0]
        if (ROOT / top).exists() and top not in ('out', 'build', 'release'):
            raise ReleaseError('%s is inside the source folder %s/: choose another output folder'
                               % (out, top))
    return out


KEEP = {'.git'}   # what --force leaves in an earlier release: a handout repository's history
# The release's own list of its files and their SHA-256: --force replaces only
# what it lists, unchanged, and what running the release makes (REMADE).
MANIFEST = '.release-files.json'
REMADE = ('.venv', 'out', 'datasets/offline_captioning', '__pycache__', '.ipynb_checkpoints', '.pytest_cache')


def looks_like_release(folder):
    return (folder / 'collect_submission.sh').is_file() and (folder / 'cs231n').is_dir()


def manifest_bytes(files):
    """The manifest of a release's files {path: (bytes, mode)}, deterministic."""
    listed = {rel: hashlib.sha256(data).hexdigest() for rel, (data, _) in sorted(files.items())}
    return (json.dumps({'about': 'the files tools/release.py wrote here (SHA-256): release.py --force '
                                 'replaces only these, unchanged', 'files': listed},
                       indent=1, sort_keys=True) + '\n').encode('utf-8')


def _remade(rel):
    parts = rel.split('/')
    return any(rel == r or rel.startswith(r + '/') for r in REMADE) or bool(set(parts) & set(REMADE))


def work_in(folder):
    """What in an earlier release is neither a file it listed, unchanged, nor
    made by running it (REMADE): (path, why) pairs, sorted. None when the
    release has no (readable) manifest."""
    try:
        listed = json.loads((folder / MANIFEST).read_text(encoding='utf-8'))['files']
    except (OSError, ValueError, KeyError, TypeError):
        return None
    found = []
    for top, dirs, names in os.walk(folder):
        rel_top = Path(top).relative_to(folder).as_posix()
        rel_top = '' if rel_top == '.' else rel_top + '/'
        dirs[:] = sorted(d for d in dirs if not (rel_top == '' and d in KEEP) and not _remade(rel_top + d))
        for name in sorted(names):
            rel = rel_top + name
            if rel == MANIFEST or _remade(rel):
                continue
            path = Path(top) / name
            if rel not in listed:
                found.append((rel, 'not part of the release'))
            elif path.is_symlink() or hashlib.sha256(path.read_bytes()).hexdigest() != listed[rel]:
                found.append((rel, 'changed since the release'))
    return sorted(found)


def write_release(out_dir, force=False, warn=print):
    out = _check_out_dir(Path(out_dir))
    if out.exists() and not out.is_dir():
        raise ReleaseError('%s is a file: give the folder to write the release to' % out)
    above = next(p for p in out.parents if p.exists())
    if not out.exists() and not above.is_dir():
        raise ReleaseError('cannot make %s: %s is a file, not a folder' % (out, above))
    old = [p for p in out.iterdir() if p.name not in KEEP] if out.exists() else []
    if old:
        if not force:
            raise ReleaseError('%s is not empty: use --force to replace its contents' % out)
        if not looks_like_release(out):
            raise ReleaseError('%s is not empty and is not an earlier release (no collect_submission.sh '
                               'and cs231n/): nothing was removed. Choose another folder, or empty it '
                               'yourself' % out)
        work = work_in(out)
        if work:     # someone worked in it (a student's copy, or a trial run): not ours to delete
            shown = ', '.join('%s (%s)' % w for w in work[:8]) + (', and %d more' % (len(work) - 8)
                                                                  if len(work) > 8 else '')
            raise ReleaseError('%s holds files that are not the earlier release as written: %s. Nothing '
                               'was removed: move them away (or delete them) and run again' % (out, shown))
        remade = [r + '/' for r in REMADE if (out / r).is_dir()]
        if work is None:
            warn('release: %s has no %s (a release from before it was written): everything in it but '
                 '.git is replaced' % (out, MANIFEST))
        if remade:
            warn('release: also removing what running the earlier release made: %s' % ', '.join(remade))
    files, _ = release_files(warn=warn)      # (a failure here leaves the old release in place)
    files = dict(files)
    files[MANIFEST] = (manifest_bytes(files), 0o644)
    for p in old:
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files):
        data, mode = files[rel]
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)
    return files


def restore_release(release_dir):
    """{relative path: text} of the solution rebuilt from a release: the .py files
    with regions, and the notebooks' cell sources joined by NUL lines."""
    release_dir = Path(release_dir)
    out = {}
    for rel, text in solution_sources().items():
        if rel.startswith('notebooks/'):
            continue
        regions = find_regions(text.splitlines(keepends=True), rel)
        dropped = {k for k, key in enumerate(python_keys(text, regions, rel)) if key is None}
        out[rel] = restore_text((release_dir / rel).read_text(encoding='utf-8'), text, rel, dropped)
    return out


def restore_notebook(released_nb, solution_nb, name):
    """The cell sources of a released notebook with the solution put back."""
    import copy
    nb = copy.deepcopy(released_nb)
    if len(nb.cells) != len(solution_nb.cells):
        raise ReleaseError('%s: %d cells in the release, %d in the solution'
                           % (name, len(nb.cells), len(solution_nb.cells)))
    for i, (cell, sol) in enumerate(zip(nb.cells, solution_nb.cells)):
        cell.source = restore_text(cell.source, sol.source, '%s cell %d' % (name, i),
                                   markdown=sol.cell_type == 'markdown')
    return nb


def verify(release_dir):
    """Restore the solution into a release; list every difference with this repo."""
    import nbformat
    if not (Path(release_dir) / 'cs231n').is_dir():
        raise ReleaseError('%s is not a student version (no cs231n/ in it): give the folder '
                           'tools/release.py wrote' % release_dir)
    problems = []
    try:
        restored_files = restore_release(release_dir)
    except FileNotFoundError as e:
        raise ReleaseError('%s lacks %s: is it a complete student version?' % (release_dir, e.filename))
    for rel, text in restored_files.items():
        if text != (ROOT / rel).read_text(encoding='utf-8'):
            problems.append('%s: restoring the solution does not give the repository file' % rel)
    for name, sol in solution_notebooks().items():
        path = Path(release_dir) / 'notebooks' / name
        if not path.is_file():
            problems.append('notebooks/%s: missing' % name)
            continue
        released = nbformat.read(path, as_version=4)
        restored = restore_notebook(released, sol, name)
        if [c.source for c in restored.cells] != [c.source for c in sol.cells]:
            problems.append('notebooks/%s: restoring the solution does not give the source cells' % name)
    problems += _compare_with_fresh_release(Path(release_dir))
    return problems


_NOT_COMPARED = {'.git', '__pycache__', '.ipynb_checkpoints'}


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob('*'))
            if p.is_file() and not _NOT_COMPARED & set(p.relative_to(folder).parts)}


def _compare_with_fresh_release(release_dir):
    """Every file of release_dir against a release built now: changed, missing, extra."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix='cs231n-verify-') as tmp:
        fresh = Path(tmp) / 'release'
        write_release(fresh, warn=lambda msg: None)
        want, have = _tree(fresh), _tree(release_dir)
        problems = ['%s: missing (a fresh release has it)' % rel for rel in want if rel not in have]
        problems += ['%s: not in a fresh release' % rel for rel in have if rel not in want]
        problems += ['%s: differs from a fresh release' % rel for rel in want
                     if rel in have and want[rel].read_bytes() != have[rel].read_bytes()]
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument('out_dir', help='folder to write the student version to (or to verify)')
    ap.add_argument('--force', action='store_true', help='replace an earlier release in OUT_DIR (its .git is kept)')
    ap.add_argument('--verify', action='store_true',
                    help='check that putting the solution back into OUT_DIR gives this repository, '
                         'and that OUT_DIR holds exactly the files of a fresh release')
    args = ap.parse_args(argv)
    warn = lambda msg: print(msg, file=sys.stderr)
    try:
        if args.verify:
            problems = verify(args.out_dir)
            for p in problems:
                print(p)
            print('verify: %s' % ('OK' if not problems else '%d problem(s)' % len(problems)))
            return 1 if problems else 0
        files = write_release(args.out_dir, force=args.force, warn=warn)
    except ReleaseError as e:
        print('release: %s' % e, file=sys.stderr)
        return 1
    except OSError as e:   # no permission, disk full, ...
        print('release: cannot write %s: %s' % (args.out_dir, e), file=sys.stderr)
        return 1
    print('release: wrote %d files to %s' % (len(files), args.out_dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
