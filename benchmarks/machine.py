"""What the benchmark prints about the machine: numpy's BLAS (its kernel and
threads, through threadpoolctl or ctypes), the CPU and the load average."""
import ctypes
import os
import platform

import numpy as np

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


class OpenBLAS:
    """numpy's OpenBLAS called through ctypes: its kernel and its thread count
    without threadpoolctl. Linux only (the library is found in
    /proc/self/maps); OpenBLAS.find() is None elsewhere or for another BLAS."""

    def __init__(self, path, lib, prefix, suffix):
        self.path = path
        self._fn = {name: getattr(lib, prefix + name + suffix) for name in
                    ('get_corename', 'get_config', 'get_num_threads', 'set_num_threads')}
        self._fn['get_corename'].restype = self._fn['get_config'].restype = ctypes.c_char_p
        self._fn['get_num_threads'].restype = ctypes.c_int

    @classmethod
    def find(cls):
        try:
            with open('/proc/self/maps') as f:
                paths = sorted({line.split()[-1] for line in f
                                if 'openblas' in line.lower() and '.so' in line.split()[-1]})
        except OSError:
            return None
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix in ('scipy_openblas_', 'openblas_'):
                for suffix in ('64_', ''):
                    try:
                        return cls(path, lib, prefix, suffix)
                    except AttributeError:
                        pass
        return None

    def corename(self):
        return self._fn['get_corename']().decode()

    def config(self):
        return self._fn['get_config']().decode()

    def threads(self):
        return int(self._fn['get_num_threads']())

    def set_threads(self, n):
        self._fn['set_num_threads'](ctypes.c_int(n))


def _threads(n):
    return '%d thread%s' % (n, '' if n == 1 else 's')


def blas_info():
    """(description, number of threads) of the BLAS that numpy calls."""
    if threadpoolctl is not None:
        for info in threadpoolctl.threadpool_info():
            if info.get('user_api') == 'blas':
                desc = '%s %s, kernel %s, %s (%s)' % (
                    info.get('internal_api'), info.get('version'), info.get('architecture'),
                    _threads(info['num_threads']), os.path.basename(info.get('filepath', '')))
                return desc, info['num_threads']
    ob = OpenBLAS.find()
    if ob is not None:
        threads = ob.threads()
        return '%s, kernel %s, %s (%s, read through ctypes)' % (
            ' '.join(ob.config().split()[:2]), ob.corename(), _threads(threads),
            os.path.basename(ob.path)), threads
    threads = int(os.environ.get('OPENBLAS_NUM_THREADS') or os.environ.get('OMP_NUM_THREADS')
                  or os.cpu_count() or 1)
    try:
        blas = np.show_config(mode='dicts')['Build Dependencies']['blas']
        desc = '%s %s (numpy.show_config; kernel unknown: not OpenBLAS, or not found; threads assumed %d)' % (
            blas.get('name'), blas.get('version'), threads)
    except Exception:  # older numpy: print the whole configuration
        np.show_config()
        desc = 'see numpy.show_config above (threads assumed %d)' % threads
    return desc, threads


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average():
    try:
        return '%.2f %.2f %.2f' % os.getloadavg()
    except (AttributeError, OSError):
        return 'n/a'
