/* The smallest MPI program: one sum the library serves, one MAXLOC it passes to MPI. */
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double x = rank + 1, y = 0;
    MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    int v[2] = {rank, rank}, w[2];
    MPI_Allreduce(v, w, 1, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
    if (rank == 0) printf("sum %g maxloc %d@%d\n", y, w[0], w[1]);
    MPI_Finalize();
    return 0;
}
