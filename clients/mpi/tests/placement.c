/* Under `tributary mpirun --fabric`: every rank runs in its own host's namespace (rank r on host h<r>
 * of the topology, the address that host holds), MPI's own traffic crosses the namespaces (a gather
 * the interposition library passes to MPI), and the reductions go through the switches. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char mine[64] = {0};
    const char *node = getenv("TRIBUTARY_NODE"), *address = getenv("TRIBUTARY_DATA_ADDRESS");
    snprintf(mine, sizeof mine, "%s %s", node ? node : "-", address ? address : "-");
    char *all = rank == 0 ? calloc((size_t)size, sizeof mine) : NULL;
    MPI_Gather(mine, sizeof mine, MPI_CHAR, all, sizeof mine, MPI_CHAR, 0, MPI_COMM_WORLD);
    double x = rank + 1, y = 0;
    MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    int failures = 0;
    if (rank == 0) {
        char seen[64 * 64] = {0};
        for (int r = 0; r < size; r++) {
            char want[16];
            snprintf(want, sizeof want, "h%d ", r);
            const char *got = all + (size_t)r * sizeof mine;
            if (strncmp(got, want, strlen(want)) != 0) {
                printf("rank %d runs on \"%s\", expected host h%d\n", r, got, r);
                failures++;
            }
            const char *addr = strchr(got, ' ');
            char key[72];
            snprintf(key, sizeof key, "%s;", addr ? addr : " -");
            if (strstr(seen, key)) {
                printf("rank %d shares its address%s with another rank\n", r, addr ? addr : " -");
                failures++;
            }
            if (strlen(seen) + strlen(key) < sizeof seen) strcat(seen, key);
        }
        if (y != size * (size + 1) / 2.0) {
            printf("sum %g, expected %g\n", y, size * (size + 1) / 2.0);
            failures++;
        }
        printf(failures ? "FAILED: %d\n" : "placement OK: %d ranks, each in its host's namespace\n",
               failures ? failures : size);
    }
    free(all);
    MPI_Finalize();
    return failures ? 1 : 0;
}
