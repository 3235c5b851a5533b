"""The runner processes of the grader (instructor-only; tools/grade.py uses
it): each submission's checks run in a process of its own (grading/runner.py)
with a memory limit, a time limit per check and one per submission, restarted
after a crash or a timeout, and killed with whatever it left behind."""
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from grade_config import STUDENT_MODULES

STOP = threading.Event()          # set when grading is interrupted: no new runner starts
LIVE, LIVE_LOCK = set(), threading.Lock()   # the runner processes alive now


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


CPU_MARGIN = 30   # CPU seconds a runner may use beyond the submission's time left (then SIGXCPU)
TOKEN_VAR = 'CS231N_GRADE_RUN'    # in the environment of each runner, with a value of its own
RUN_ID = secrets.token_hex(4)     # the start of every value of this grading run


def kill_leftovers(token):
    """Kill the processes whose environment holds this runner's token (or,
    given RUN_ID, any runner's of this grading run): those a submission
    started and left behind, in a session of their own too (Linux; a process
    that clears its environment escapes). Returns how many."""
    mark = ('%s=%s' % (TOKEN_VAR, token)).encode() + (b'' if token == RUN_ID else b'\0')
    killed = 0
    for environ in Path('/proc').glob('[0-9]*/environ'):
        try:
            pid = int(environ.parent.name)
            if pid != os.getpid() and mark in environ.read_bytes():
                os.kill(pid, signal.SIGKILL)
                killed += 1
        except (OSError, ValueError):
            pass     # gone already, or not ours to read
    return killed




class Drain(threading.Thread):
    """Reads a pipe to its end, keeping only its last `keep` bytes."""

    def __init__(self, stream, keep=4096):
        super().__init__(daemon=True)
        self.stream, self.keep, self.tail, self.total = stream, keep, b'', 0

    def run(self):
        while True:
            chunk = self.stream.read1(65536) if hasattr(self.stream, 'read1') else self.stream.read(65536)
            if not chunk:
                break
            self.total += len(chunk)
            self.tail = (self.tail + chunk)[-self.keep:]

    def text(self):
        return self.tail.decode('utf-8', errors='replace')


def exit_reason(rc, memory_mb):
    if rc is None:
        return 'crashed'
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = 'signal %d' % -rc
        extra = ' (perhaps out of memory)' if -rc in (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV) else \
            ' (out of CPU time: more than the submission\'s time limit)' if -rc == signal.SIGXCPU else ''
        return 'crashed (killed by %s)%s' % (name, extra)
    return 'crashed (exit code %d)' % rc


def _spec_path(ws):
    """Where the runner's next list of checks goes: _grading/jobs.json for the
    first start in the workspace, then jobs-2.json, jobs-3.json, ..., so that
    --keep-workspaces keeps every list (the first one holds every check)."""
    path, k = ws / '_grading' / 'jobs.json', 1
    while path.exists():
        k += 1
        path = ws / '_grading' / ('jobs-%d.json' % k)
    return path


def run_checks(ws, jobs, settings, ref_name, hidden_modules, python=sys.executable, deadline=None, broken=None):
    """Run `jobs` in the workspace, restarting the runner after a crash or a
    timeout, until `deadline` (time.monotonic(); by default the submission's
    time from now); returns {job id: result dict} and the modules that broke
    (`broken`: those known to be broken already, not imported again)."""
    timeout_check = float(settings['timeout_check'])
    if deadline is None:
        deadline = time.monotonic() + float(settings['timeout_submission'])
    memory_mb = int(settings['memory_mb'])
    results, broken, pending = {}, dict(broken or {}), list(jobs)
    idle_spawns = 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(('PYTHON', 'COVERAGE', 'CS231N'))}
    env.update(OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               MPLBACKEND='Agg', PYTHONHASHSEED='0', PYTHONDONTWRITEBYTECODE='1')
    while pending:
        if STOP.is_set():
            for job in pending:
                results[job['id']] = {'ok': False, 'seconds': 0.0, 'output': '', 'reason': 'not run: grading interrupted'}
            break
        if time.monotonic() >= deadline:
            for job in pending:
                results[job['id']] = {'ok': False, 'seconds': 0.0, 'output': '',
                                      'reason': 'not run: the submission used up its %g s'
                                                % float(settings['timeout_submission'])}
            break
        spec = {'workspace': str(ws), 'ref_package': ref_name, 'memory_mb': memory_mb,
                'cpu_seconds': int(deadline - time.monotonic()) + CPU_MARGIN,
                'timeout_check': timeout_check, 'output_cap': int(settings['output_cap_kb']) * 1024,
                'student_modules': STUDENT_MODULES,
                'broken': broken, 'hidden_modules': hidden_modules,
                'jobs': [{k: j[k] for k in ('id', 'kind', 'functions', 'notebook', 'setup', 'cell', 'label',
                                           'inject', 'check') if k in j} for j in pending]}
        spec_path = _spec_path(ws)
        spec_path.write_text(json.dumps(spec), encoding='utf-8')
        r, w = os.pipe()
        env[TOKEN_VAR] = RUN_ID + secrets.token_hex(8)
        try:
            # the grader's pid last: the runner exits with it (a replay by hand gives none)
            proc = subprocess.Popen([python, '-I', str(ws / '_grading' / 'runner.py'), str(spec_path), str(w),
                                     str(os.getpid())],
                                    cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, pass_fds=(w,), start_new_session=True)
        finally:
            os.close(w)
        with LIVE_LOCK:
            LIVE.add(proc)
            if STOP.is_set():      # interrupted while it started: the interrupt's kill has run already
                kill_group(proc)
        drain = Drain(proc.stdout)
        drain.start()
        buf, current, importing, progress, finished, where = b'', None, None, False, False, None
        # starting Python and the trusted imports gets its own, generous, allowance
        step_deadline = time.monotonic() + max(60.0, timeout_check)
        timed_out = False
        with os.fdopen(r, 'rb', buffering=0) as chan:
            while True:
                wait = min(step_deadline, deadline) - time.monotonic()
                if wait <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([chan], [], [], wait)
                if not ready:
                    continue
                chunk = chan.read(65536)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > 4 * 1024 * 1024:  # garbage on the channel: stop this process
                    timed_out = None
                    break
                while b'\n' in buf:
                    line, buf = buf.split(b'\n', 1)
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    ev = msg.get('event')
                    now = time.monotonic()
                    if ev == 'where':    # where the code is, in a check that runs long
                        where = str(msg.get('at'))[:300]
                        continue
                    where = None
                    if ev == 'import':
                        importing, step_deadline = msg['module'], now + timeout_check
                    elif ev == 'imported':
                        if msg.get('error') and msg['module'] not in broken:
                            broken[msg['module']] = msg['error']
                            progress = True
                        importing, step_deadline = None, now + timeout_check
                    elif ev == 'start':
                        current, step_deadline = msg['id'], now + timeout_check
                    elif ev == 'end' and msg.get('id') == current:
                        results[current] = {'ok': bool(msg.get('ok')), 'reason': msg.get('reason') or '',
                                            'output': msg.get('output') or '', 'seconds': msg.get('seconds', 0.0)}
                        pending = [j for j in pending if j['id'] != current]
                        current, progress = None, True
                        step_deadline = now + timeout_check
                    elif ev == 'done':
                        finished = True
                        break
                if finished:   # not waiting for the channel to close: a process the
                    break      # submission left behind may hold it open
        closed_channel = False
        if proc.poll() is None and not timed_out and timed_out is not None:
            try:   # the channel is closed: the process should be ending on its own
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                closed_channel = True
        if proc.poll() is None:
            kill_group(proc)
        rc = proc.wait()
        kill_leftovers(env[TOKEN_VAR])
        with LIVE_LOCK:
            LIVE.discard(proc)
        drain.join(timeout=0.5 if finished else 5)
        if finished and not pending:
            break
        tail = drain.text().strip().splitlines()
        last = (' [last output: %s]' % tail[-1][:200]) if tail and not timed_out else ''
        if timed_out is None:
            why = 'wrote garbage on the grader\'s channel'
        elif closed_channel:
            why = 'closed the grader\'s channel'
        elif timed_out:
            why = ('timed out after %g s' % timeout_check) if time.monotonic() < deadline else \
                  ('timed out: the submission used up its %g s' % float(settings['timeout_submission']))
            if where:
                why += ' (still running %s)' % where
        else:
            why = exit_reason(rc, memory_mb) + last
        if current is not None:
            results[current] = {'ok': False, 'reason': why, 'output': '', 'seconds': None}
            pending = [j for j in pending if j['id'] != current]
            progress = True
            # A part scores only when all its checks pass: after a timeout the
            # part's other checks cannot change its score, and would each cost
            # the time limit again if the same code hangs.
            lost = next((j for j in jobs if j['id'] == current), {})
            if timed_out and lost.get('part') and not lost.get('partial'):
                for j in pending:
                    if j['part'] == lost['part']:
                        results[j['id']] = {'ok': False, 'output': '', 'seconds': 0.0,
                                            'reason': 'not run: %s of this part timed out' % lost['name']}
                pending = [j for j in pending if j['part'] != lost['part']]
        elif importing is not None:
            broken[importing] = 'could not import %s: %s at import' % (STUDENT_MODULES[importing], why)
            progress = True
        if progress:
            idle_spawns = 0
        else:
            idle_spawns += 1
            if idle_spawns >= 2:  # the runner cannot even start: say so for every check left
                for job in pending:
                    results[job['id']] = {'ok': False, 'output': drain.text()[-2000:], 'seconds': None,
                                          'reason': 'the checks could not start: %s' % why}
                break
    return results, broken
