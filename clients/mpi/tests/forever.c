/* Allreduces until stopped: scripts/client-tests stops `tributary mpirun` running it and checks that
 * nothing it started outlives it. */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    double x = 1, y = 0;
    for (long i = 0;; i++) {
        MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0 && i == 10) {
            printf("running\n");
            fflush(stdout);
        }
        usleep(1000);
    }
}
