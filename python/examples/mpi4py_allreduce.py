"""An mpi4py program nobody here wrote the MPI side of: buffer-based Comm.Allreduce on numpy
arrays. Under `tributary mpirun` the interposition library takes its MPI_Allreduce through the
emulated switches; rank 0's summary line at MPI_Finalize says so. Checks its own results."""

import hashlib
import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
ok = True
for n in (1, 1000, 100003):
    ints = np.arange(n, dtype=np.int64) * (rank + 1)
    total = np.empty_like(ints)
    comm.Allreduce(ints, total, op=MPI.SUM)
    ok &= bool((total == np.arange(n, dtype=np.int64) * (size * (size + 1) // 2)).all())
    floats = np.full(n, rank, dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, floats, op=MPI.MAX)
    ok &= bool((floats == size - 1).all())
    grads = np.random.default_rng(rank).normal(size=n).astype(np.float32)
    summed = np.empty_like(grads)
    comm.Allreduce(grads, summed, op=MPI.SUM)
    digests = comm.allgather(hashlib.sha256(summed.tobytes()).hexdigest())
    ok &= len(set(digests)) == 1
halves = comm.Split(rank % 2, rank)
value = np.array([rank], dtype=np.int32)
halves.Allreduce(MPI.IN_PLACE, value, op=MPI.SUM)
ok &= int(value[0]) == sum(r for r in range(size) if r % 2 == rank % 2)
halves.Free()
if rank == 0:
    print("OK: mpi4py" if ok else "FAILED: mpi4py")
sys.exit(0 if ok else 1)
