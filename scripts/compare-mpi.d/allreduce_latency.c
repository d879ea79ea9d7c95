/* The host library's side of scripts/compare-mpi: MPI_Allreduce of float sums over a list of
 * sizes, timed per call like nccl-tests and the OSU latency benchmark (barrier, then the slowest
 * rank's time per iteration), median over iterations. Prints one line per size:
 *     <bytes> <median seconds> <mean seconds>
 * Usage: allreduce_latency WARMUP ITERS BYTES...
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc < 4) {
        if (rank == 0) fprintf(stderr, "usage: %s WARMUP ITERS BYTES...\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    int warmup = atoi(argv[1]), iters = atoi(argv[2]);
    double *times = malloc(sizeof(double) * (size_t)iters);
    for (int s = 3; s < argc; s++) {
        long bytes = atol(argv[s]);
        long count = bytes / (long)sizeof(float);
        if (count < 1) count = 1;
        float *send = malloc(sizeof(float) * (size_t)count), *recv = malloc(sizeof(float) * (size_t)count);
        for (long i = 0; i < count; i++) send[i] = (float)((rank + 1) * (i % 1000)) * 0.001f;
        for (int i = 0; i < warmup + iters; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(send, recv, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double local = MPI_Wtime() - t0, slowest;
            MPI_Reduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
            if (i >= warmup) times[i - warmup] = slowest;
        }
        if (rank == 0) {
            double sum = 0;
            for (int i = 0; i < iters; i++) sum += times[i];
            qsort(times, (size_t)iters, sizeof(double), compare);
            printf("%ld %.9f %.9f\n", count * (long)sizeof(float), times[iters / 2], sum / iters);
            fflush(stdout);
        }
        free(send);
        free(recv);
    }
    free(times);
    MPI_Finalize();
    return 0;
}
