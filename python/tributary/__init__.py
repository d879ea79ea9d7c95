"""Reduce numpy arrays through Tributary's emulated in-network switches.

A thin layer over the C library (libtributary.so, tributary.h) through ctypes. Rank, size and job
come from the launcher's environment (Open MPI, PMI/MPICH, Slurm, torchrun) unless given; the
fabric from $TRIBUTARY_FABRIC (the endpoint file `tributary serve` writes; `tributary mpirun` sets
it) and the job secret from $TRIBUTARY_JOB_SECRET.

    import numpy as np, tributary
    with tributary.init() as comm:
        grad = np.ones(1000, dtype=np.float32)
        comm.allreduce(grad)              # in place, sum
        print(comm.rank, comm.last.path)  # "in-network: ..." or "host fallback: ..."

Calls block until this rank's part is done; a communicator's calls are serialised (one thread at a
time), as with NCCL. The library is found at $TRIBUTARY_LIBRARY, else beside the interposition
library `tributary mpirun` preloads, else by the dynamic linker (a build directory in
LD_LIBRARY_PATH).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["init", "Communicator", "TributaryError", "OperationInfo"]

_DTYPES = {
    np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.float16): 3,
    np.dtype(np.int32): 5, np.dtype(np.int64): 6, np.dtype(np.uint32): 7, np.dtype(np.uint64): 8,
    np.dtype(np.int8): 9, np.dtype(np.uint8): 10,
}
_OPS = {"sum": 1, "prod": 2, "min": 3, "max": 4, "band": 5, "bor": 6, "bxor": 7}


class _Config(ctypes.Structure):
    _fields_ = [("endpoint_file", ctypes.c_char_p), ("coordinator", ctypes.c_char_p),
                ("client_key_file", ctypes.c_char_p), ("job", ctypes.c_char_p), ("job_secret", ctypes.c_char_p),
                ("rank", ctypes.c_int), ("size", ctypes.c_int), ("host", ctypes.c_char_p),
                ("host_number", ctypes.c_int), ("timeout_seconds", ctypes.c_int), ("validate", ctypes.c_int)]


class _Info(ctypes.Structure):
    _fields_ = [("op_seq", ctypes.c_uint64), ("in_network", ctypes.c_int), ("bit_exact", ctypes.c_int),
                ("seconds", ctypes.c_double), ("bytes_sent", ctypes.c_uint64),
                ("bytes_received", ctypes.c_uint64), ("path", ctypes.c_char * 256)]


@dataclass(frozen=True)
class OperationInfo:
    """What one operation did: its number, whether it ran in-network, its validation, time, bytes."""
    op_seq: int
    in_network: bool
    bit_exact: bool | None
    seconds: float
    bytes_sent: int
    bytes_received: int
    path: str


class TributaryError(RuntimeError):
    """A failed call: `code` is tributary.h's result code, the message names the cause."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def _load() -> ctypes.CDLL:
    candidates = []
    if os.environ.get("TRIBUTARY_LIBRARY"):
        candidates.append(os.environ["TRIBUTARY_LIBRARY"])
    for preloaded in os.environ.get("LD_PRELOAD", "").split(":"):
        if preloaded.endswith("libtributary_mpi.so"):
            candidates.append(os.path.join(os.path.dirname(preloaded), "libtributary.so"))
    candidates.append("libtributary.so")
    found = ctypes.util.find_library("tributary")
    if found:
        candidates.append(found)
    errors = []
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError as error:
            errors.append(f"{path}: {error}")
    raise ImportError("cannot load libtributary.so (scripts/build-clients builds it; set TRIBUTARY_LIBRARY "
                      "to its path): " + "; ".join(errors))


_lib = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = _load()
        lib.tributary_config_init.argtypes = [ctypes.POINTER(_Config)]
        lib.tributary_init_config.argtypes = [ctypes.POINTER(_Config), ctypes.POINTER(ctypes.c_void_p)]
        lib.tributary_init_config.restype = ctypes.c_int
        for name in ("tributary_rank", "tributary_size"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_int
        vp, sz, i, info = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(_Info)
        signatures = {
            "tributary_allreduce": [vp, vp, vp, sz, i, i, info],
            "tributary_reduce": [vp, vp, vp, sz, i, i, i, info],
            "tributary_broadcast": [vp, vp, sz, i, i, info],
            "tributary_barrier": [vp, info],
            "tributary_reduce_scatter": [vp, vp, vp, sz, i, i, info],
            "tributary_all_gather": [vp, vp, vp, sz, i, info],
            "tributary_finalize": [vp],
        }
        for name, args in signatures.items():
            getattr(lib, name).argtypes = args
            getattr(lib, name).restype = ctypes.c_int
        lib.tributary_error_string.argtypes = [ctypes.c_int]
        lib.tributary_error_string.restype = ctypes.c_char_p
        lib.tributary_last_error.restype = ctypes.c_char_p
        _lib = lib
    return _lib


def _check(code: int) -> None:
    if code != 0:
        lib = _library()
        raise TributaryError(code, f"{lib.tributary_error_string(code).decode()}: "
                                   f"{lib.tributary_last_error().decode()}")


def _encode(text):
    return text.encode() if text is not None else None


def init(*, rank: int | None = None, size: int | None = None, job: str | None = None,
         endpoint_file: str | None = None, job_secret: str | None = None, host: str | None = None,
         host_number: int | None = None, timeout: int | None = None, validate: bool | None = None) -> "Communicator":
    """Joins a job on the fabric; what is not given comes from the environment."""
    lib = _library()
    config = _Config()
    lib.tributary_config_init(ctypes.byref(config))
    keep = [_encode(endpoint_file), _encode(job), _encode(job_secret), _encode(host)]
    config.endpoint_file, config.job, config.job_secret, config.host = keep
    if rank is not None:
        config.rank = rank
    if size is not None:
        config.size = size
    if host_number is not None:
        config.host_number = host_number
    if timeout is not None:
        config.timeout_seconds = timeout
    if validate is not None:
        config.validate = 1 if validate else 0
    handle = ctypes.c_void_p()
    _check(lib.tributary_init_config(ctypes.byref(config), ctypes.byref(handle)))
    return Communicator(handle)


def _array(a, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if a.dtype not in _DTYPES:
        raise TypeError(f"{name}: dtype {a.dtype} is not one Tributary reduces "
                        f"({', '.join(str(d) for d in _DTYPES)})")
    return a


def _pointer(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


class Communicator:
    """One joined job. Use as a context manager, or call finalize()."""

    def __init__(self, handle: ctypes.c_void_p):
        self._handle = handle
        lib = _library()
        self.rank = lib.tributary_rank(handle)
        self.size = lib.tributary_size(handle)
        self.last: OperationInfo | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finalize()

    def _live(self) -> ctypes.c_void_p:
        if self._handle is None:
            raise TributaryError(6, "the communicator is finalized")
        return self._handle

    def _run(self, name: str, *args) -> OperationInfo:
        info = _Info()
        _check(getattr(_library(), name)(self._live(), *args, ctypes.byref(info)))
        bit = None if info.bit_exact < 0 else bool(info.bit_exact)
        self.last = OperationInfo(info.op_seq, bool(info.in_network), bit, info.seconds, info.bytes_sent,
                                  info.bytes_received, info.path.decode(errors="replace"))
        return self.last

    def allreduce(self, send: np.ndarray, out: np.ndarray | None = None, op: str = "sum") -> np.ndarray:
        """Reduces `send` over every rank into `out` (default: in place into `send`); returns it."""
        send = _array(send, "send")
        out = send if out is None else _array(out, "out")
        if out.dtype != send.dtype or out.size != send.size:
            raise ValueError("out must have send's dtype and size")
        self._run("tributary_allreduce", _pointer(send), _pointer(out), send.size, _DTYPES[send.dtype], _op(op))
        return out

    def reduce(self, send: np.ndarray, root: int = 0, out: np.ndarray | None = None, op: str = "sum"):
        """Reduces to `root`: returns the result there (in `out`, default in place), None elsewhere."""
        send = _array(send, "send")
        out = send if out is None else _array(out, "out")
        self._run("tributary_reduce", _pointer(send), _pointer(out), send.size, _DTYPES[send.dtype], _op(op), root)
        return out if self.rank == root else None

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> np.ndarray:
        buffer = _array(buffer, "buffer")
        self._run("tributary_broadcast", _pointer(buffer), buffer.size, _DTYPES[buffer.dtype], root)
        return buffer

    def barrier(self) -> None:
        self._run("tributary_barrier")

    def reduce_scatter(self, send: np.ndarray, op: str = "sum") -> np.ndarray:
        """`send` holds size equal blocks; returns this rank's block of the reduction."""
        send = _array(send, "send")
        if send.size % self.size:
            raise ValueError(f"send has {send.size} elements, not a multiple of the {self.size} ranks")
        out = np.empty(send.size // self.size, dtype=send.dtype)
        self._run("tributary_reduce_scatter", _pointer(send), _pointer(out), out.size, _DTYPES[send.dtype], _op(op))
        return out

    def all_gather(self, send: np.ndarray) -> np.ndarray:
        """Returns every rank's `send`, rank order, concatenated."""
        send = _array(send, "send")
        out = np.empty(send.size * self.size, dtype=send.dtype)
        self._run("tributary_all_gather", _pointer(send), _pointer(out), send.size, _DTYPES[send.dtype])
        return out

    def finalize(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            _check(_library().tributary_finalize(handle))


def _op(name: str) -> int:
    try:
        return _OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r} ({', '.join(_OPS)})") from None
