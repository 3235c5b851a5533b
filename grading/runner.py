"""Run the checks of one submission, inside its grading workspace (instructor-only).

Started by tools/grade.py, never by hand:

    python -I runner.py JOBS.json RESULT_FD

It limits its own memory, imports the reference and the student's modules,
then runs the jobs of JOBS.json one after the other, reporting on the file
descriptor RESULT_FD one JSON object per line:

    {"event": "import", "module": M}            about to import a student module
    {"event": "imported", "module": M, "error": null or a reason}
    {"event": "start", "id": J}                 about to run job J
    {"event": "end", "id": J, "ok": ..., "reason": ..., "output": ..., "seconds": ...}
    {"event": "done"}

The parent enforces the time limits and restarts this process after a crash
or a timeout, with the jobs that are left. The student's printing goes to a
capped buffer (kept for the feedback), never to the parent's channel.
"""
import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
import types

LAYER_NAMES = ['rnn_step_forward', 'rnn_step_backward', 'rnn_forward', 'rnn_backward',
               'word_embedding_forward', 'word_embedding_backward',
               'lstm_step_forward', 'lstm_step_backward', 'lstm_forward', 'lstm_backward',
               # given to the students: always the reference's
               'sigmoid', 'affine_forward', 'affine_backward', 'temporal_affine_forward',
               'temporal_affine_backward', 'temporal_softmax_loss']
METHOD_NAMES = ['loss', 'sample']
LAYERS, MODEL = 'cs231n.rnn_layers', 'cs231n.classifiers.rnn'
MODULE_OF = dict([(n, LAYERS) for n in LAYER_NAMES] + [('CaptioningRNN.' + m, MODEL) for m in METHOD_NAMES])


class CappedText:
    """A write-only text stream that keeps the first `cap` characters."""

    def __init__(self, cap):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def write(self, s):
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        t = ''.join(self.parts)
        return t + ('\n[... %d more characters of output dropped]' % self.dropped if self.dropped else '')


def limit_resources(memory_mb, cpu_seconds=None):
    """Hard limits (the student's code cannot raise them again). Where the
    system does not support one (RLIMIT_AS on macOS), it is skipped. The CPU
    limit stops a runner that outlives its grader (the grader kills it at the
    submission's deadline itself)."""
    big = 256 * 1024 * 1024   # no file bigger than this: a runaway writer is stopped
    limits = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, big)]
    if memory_mb:
        limits.append((resource.RLIMIT_AS, int(memory_mb) * 1024 * 1024))
    if cpu_seconds:   # SIGXCPU at the limit (said as such), SIGKILL 5 s later
        limits.append((resource.RLIMIT_CPU, int(cpu_seconds)))
    for which, value in limits:
        try:
            hard = resource.getrlimit(which)[1]
            if which == resource.RLIMIT_CPU:   # SIGXCPU at the soft limit, SIGKILL at the hard one
                if hard == resource.RLIM_INFINITY:
                    hard = value + 5
                value = max(1, min(value, hard - 5))
            else:
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                hard = value
            resource.setrlimit(which, (value, hard))
        except (ValueError, OSError):
            pass


def die_with_grader(grader_pid):
    """Exit when the grader does (Linux: the kernel sends SIGKILL), and at once
    when it is gone already. Nothing to do without a grader (a replay by hand)."""
    if not grader_pid:
        return
    if sys.platform.startswith('linux'):
        try:
            import ctypes
            PR_SET_PDEATHSIG, SIGKILL = 1, 9
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != grader_pid:
        os._exit(3)


def describe_exception(e, student_paths, memory_mb, at_import=False):
    """One line saying what went wrong, and where in the student's files."""
    if isinstance(e, MemoryError):
        return 'out of memory (the limit is %d MB)' % memory_mb if memory_mb else 'out of memory'
    if isinstance(e, SystemExit):
        return 'called sys.exit(%r)%s' % (e.code, ' at import' if at_import else '')
    # a SyntaxError's str() has the file and line already: its msg alone, the place is added below
    msg = str(e.msg if isinstance(e, SyntaxError) and e.msg else e).strip().splitlines()
    msg = msg[0] if msg else ''
    if len(msg) > 400:
        msg = msg[:400] + '...'
    text = '%s%s%s' % (type(e).__name__, ': ' if msg else '', msg)
    if isinstance(e, SyntaxError) and e.filename:
        return '%s (%s, line %s)' % (text, _short(e.filename, student_paths), e.lineno)
    where = None
    for frame in traceback.extract_tb(e.__traceback__):
        short = _short(frame.filename, student_paths)
        if short in student_paths.values():
            where = '%s, line %d, in %s' % (short, frame.lineno, frame.name)
    return text + (' (%s)' % where if where else '')


def _short(filename, student_paths):
    for rel in student_paths.values():
        if filename and os.path.abspath(filename).endswith(os.sep + rel.replace('/', os.sep)):
            return rel
    return filename


def strip_magics(source):
    """A notebook cell as plain Python: IPython magics and shell lines become blank."""
    return '\n'.join('' if line.lstrip().startswith(('%', '!')) else line for line in source.split('\n'))


def main():
    spec = json.loads(open(sys.argv[1], encoding='utf-8').read())
    chan = os.fdopen(int(sys.argv[2]), 'w', buffering=1, encoding='utf-8')

    lock = threading.Lock()   # the watchdog below writes too
    step = {'since': time.monotonic()}

    def send(**msg):
        with lock:
            if msg['event'] != 'where':
                step['since'] = time.monotonic()
            chan.write(json.dumps(msg) + '\n')
            chan.flush()

    die_with_grader(int(sys.argv[3]) if len(sys.argv) > 3 else None)
    memory_mb = spec.get('memory_mb')
    limit_resources(memory_mb, spec.get('cpu_seconds'))
    ws = spec['workspace']
    os.chdir(ws)
    sys.path[:0] = [ws, os.path.join(ws, '_grading', 'hidden_tests')]
    student_paths = spec['student_modules']            # module -> relative path
    watch_after = float(spec.get('timeout_check', 30)) / 2

    def watchdog(main_id):
        """Where in the student's files the main thread is, said every second
        once a check (or an import) has run for half its time: a check that
        times out is then reported with its line (the grader keeps the last)."""
        while True:
            time.sleep(1.0)
            if time.monotonic() - step['since'] < watch_after:
                continue
            frame = sys._current_frames().get(main_id)
            stack = traceback.extract_stack(frame) if frame is not None else []
            at = next(('%s, line %d, in %s' % (_short(f.filename, student_paths), f.lineno, f.name)
                       for f in reversed(stack) if _short(f.filename, student_paths) in student_paths.values()),
                      None)
            if at:
                send(event='where', at=at)
    threading.Thread(target=watchdog, args=(threading.get_ident(),), daemon=True).start()
    cap = int(spec.get('output_cap', 65536))
    real_out, real_err = sys.stdout, sys.stderr

    # Trusted code first: numpy, matplotlib, the reference, the instructor's modules.
    import numpy as np
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot  # noqa: F401  (the notebooks' setup cell imports it)
    ref = spec['ref_package']
    ref_layers = importlib.import_module(ref + '.rnn_layers')
    ref_model = importlib.import_module(ref + '.classifiers.rnn')
    for name in ['cs231n', 'cs231n.classifiers', 'cs231n.gradient_check', 'cs231n.optim',
                 'cs231n.coco_utils', 'cs231n.captioning_solver', 'cs231n.image_utils', 'cs231n.checks']:
        importlib.import_module(name)
    optim = sys.modules['cs231n.optim']
    # The given methods that decode captions step by step (temperature sampling,
    # beam search): greedy sampling is beam search of width 1, so while a check
    # runs the student's sample they are switched off, and calling them fails,
    # as in the notebooks' sampling check (cs231n/checks.py).
    checks = sys.modules['cs231n.checks']
    sampling_helpers, switched_off = checks.SAMPLING_HELPERS, checks.switched_off

    # The student's modules, each replaced by the reference when it cannot be imported.
    broken = dict(spec.get('broken', {}))
    for mod in [LAYERS, MODEL]:
        if mod not in broken:
            send(event='import', module=mod)
            sys.stdout = sys.stderr = CappedText(cap)
            try:
                importlib.import_module(mod)
            except BaseException as e:  # noqa: B036 (SystemExit too: the student's, not ours)
                broken[mod] = 'could not import %s: %s' % (
                    student_paths[mod], describe_exception(e, student_paths, memory_mb, at_import=True))
            finally:
                sys.stdout, sys.stderr = real_out, real_err
            send(event='imported', module=mod, error=broken.get(mod))
        if mod in broken:
            source = ref_layers if mod == LAYERS else ref_model
            placeholder = types.ModuleType(mod)
            placeholder.__dict__.update({k: v for k, v in vars(source).items() if not k.startswith('__')})
            if mod == MODEL:  # a class of its own, so that swapping methods leaves the reference alone
                placeholder.CaptioningRNN = type('CaptioningRNN', (ref_model.CaptioningRNN,), {})
            sys.modules[mod] = placeholder
            parent, _, child = mod.rpartition('.')
            setattr(sys.modules[parent], child, placeholder)

    s_layers, s_model = sys.modules[LAYERS], sys.modules[MODEL]
    Model = getattr(s_model, 'CaptioningRNN', None)
    if not isinstance(Model, type):
        broken[MODEL] = '%s has no class CaptioningRNN' % student_paths[MODEL]
        Model = type('CaptioningRNN', (ref_model.CaptioningRNN,), {})
        s_model.CaptioningRNN = Model
    model_globals = set(vars(s_model))
    student = {}
    missing = object()
    for name in LAYER_NAMES:
        student[name] = getattr(s_layers, name, missing)
    for m in METHOD_NAMES:
        student['CaptioningRNN.' + m] = getattr(Model, m, missing)
    given = {m: vars(Model)[m] for m in sampling_helpers if m in vars(Model)}

    def problem_with(functions):
        for f in functions:
            if MODULE_OF[f] in broken:
                return broken[MODULE_OF[f]]
            if student[f] is missing or not callable(student[f]):
                return '%s is missing from %s' % (f, student_paths[MODULE_OF[f]])
        return None

    def use(functions):
        """The student's versions of `functions`, the reference's of all others."""
        for name in LAYER_NAMES:
            value = student[name] if name in functions else getattr(ref_layers, name)
            setattr(s_layers, name, value)
            if name in model_globals:
                setattr(s_model, name, value)
        for m in METHOD_NAMES:
            f = 'CaptioningRNN.' + m
            setattr(Model, m, student[f] if f in functions else getattr(ref_model.CaptioningRNN, m))
        for m in sampling_helpers:
            if 'CaptioningRNN.sample' in functions:
                setattr(Model, m, switched_off(m))
            elif m in given:
                setattr(Model, m, given[m])
            elif m in vars(Model):
                delattr(Model, m)

    ctx = types.SimpleNamespace(layers=s_layers, Model=Model, ref=ref_layers,
                                RefModel=ref_model.CaptioningRNN, optim=optim,
                                gradient_check=sys.modules['cs231n.gradient_check'])
    hidden = {}
    for modname in spec['hidden_modules']:
        module = importlib.import_module(modname)
        hidden.update({k: v for k, v in vars(module).items()
                       if callable(v) and not k.startswith('_') and getattr(v, '__module__', '') == modname})

    for job in spec['jobs']:
        send(event='start', id=job['id'])
        t0 = time.perf_counter()
        out = CappedText(cap)
        reason = problem_with(job['functions'])
        if reason is None:
            use(job['functions'])
            checks.forget_failures()   # the parts a check builds on are the reference's here
            np.random.seed(0)
            sys.stdout = sys.stderr = out
            try:
                if job['kind'] == 'visible':
                    ns = {'__name__': '__main__'}
                    exec(compile(strip_magics(job['setup']), '<%s setup cell>' % job['notebook'], 'exec'), ns)
                    if job.get('inject'):
                        ns.update(hidden[job['inject']](ctx))
                    exec(compile(job['cell'], '<%s>' % job['label'], 'exec'), ns)
                else:
                    hidden[job['check']](ctx)
            except BaseException as e:  # noqa: B036
                reason = describe_exception(e, student_paths, memory_mb)
            finally:
                sys.stdout, sys.stderr = real_out, real_err
        send(event='end', id=job['id'], ok=reason is None, reason=reason, output=out.text(),
             seconds=round(time.perf_counter() - t0, 3))
    send(event='done')
    chan.close()
    os._exit(0)  # not waiting for threads a submission may have left running


if __name__ == '__main__':
    main()
