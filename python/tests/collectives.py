"""The Python package under a launcher (run by scripts/client-tests under `tributary mpirun`):
every numpy dtype Tributary has, through every call, checked against numpy on the same data. It
imports mpi4py too (MPI_Init: the interposition library joins the launch's `.mpi` job) so the
package and the MPI library share one process and one fabric, as in a real program."""

import sys

import numpy as np
from mpi4py import MPI

import tributary


def inputs(rank: int, n: int, dtype) -> np.ndarray:
    rng = np.random.default_rng(rank * 1000 + n)
    if np.dtype(dtype).kind == "f":
        return rng.normal(0, 10, n).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)


def main() -> int:
    failures = []
    with tributary.init() as comm:
        rank, size = comm.rank, comm.size
        for dtype in (np.float32, np.float64, np.float16, np.int32, np.int64, np.uint32, np.uint64, np.int8, np.uint8):
            for n in (0, 1, 7, 70001):
                everyone = [inputs(r, n, dtype) for r in range(size)]
                mine = everyone[rank].copy()
                for op, fold in (("max", np.maximum), ("sum", None)):
                    out = comm.allreduce(mine, out=np.empty_like(mine), op=op)
                    if fold is not None or np.dtype(dtype).kind != "f":
                        want = everyone[0].copy()
                        for other in everyone[1:]:
                            want = fold(want, other) if fold is not None else (want + other).astype(dtype)
                        if out.tobytes() != want.tobytes():
                            failures.append(f"allreduce {op} {np.dtype(dtype)} n={n}")
                    elif comm.last.bit_exact is False:
                        failures.append(f"allreduce sum {np.dtype(dtype)} n={n} not bit-exact")
                gathered = comm.all_gather(mine)
                if gathered.tobytes() != np.concatenate(everyone).tobytes():
                    failures.append(f"all_gather {np.dtype(dtype)} n={n}")
                block = comm.reduce_scatter(np.concatenate([mine] * size), op="max")
                if block.tobytes() != np.maximum.reduce(everyone).tobytes() if n else block.size != 0:
                    failures.append(f"reduce_scatter max {np.dtype(dtype)} n={n}")
                root_data = comm.broadcast(mine.copy(), root=size - 1)
                if root_data.tobytes() != everyone[size - 1].tobytes():
                    failures.append(f"broadcast {np.dtype(dtype)} n={n}")
        comm.barrier()
        both = np.array([rank], dtype=np.int64)
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, both, op=MPI.SUM)  # through the interposition library
        if int(both[0]) != size * (size - 1) // 2:
            failures.append(f"MPI allreduce beside the package gave {both[0]}")
        try:
            comm.allreduce(np.ones(3, np.float32), op="bxor")
            failures.append("bxor on float32 was accepted")
        except tributary.TributaryError as error:
            if error.code != 1 or "bxor" not in str(error):
                failures.append(f"bxor on float32: {error}")
    for failure in failures:
        print(f"rank {rank}: FAIL: {failure}", file=sys.stderr)
    if rank == 0 and not failures:
        print(f"OK: python package, {size} ranks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
