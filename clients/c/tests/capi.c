/*
 * The C library from C, without MPI: ranks started as plain processes with torchrun's variables
 * (RANK, WORLD_SIZE), the fabric and job from the environment (scripts/client-tests starts them).
 * Every call of tributary.h, in place and out of place, sizes 0, 1, odd and chunk + 1, checked
 * against values each rank can compute (integer sums, min/max, broadcast and gather data), plus
 * the errors a caller can make. Exits non-zero on any mismatch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tributary.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

static int64_t value(int rank, size_t i) { return (int64_t)((i * 2654435761u + (size_t)rank * 40503u) % 100000) - 50000; }

int main(void) {
    tributary_comm *comm = NULL;
    tributary_result_t rc = tributary_init(&comm);
    if (rc != TRIBUTARY_SUCCESS) {
        fprintf(stderr, "init: %s: %s\n", tributary_error_string(rc), tributary_last_error());
        return 2;
    }
    int rank = tributary_rank(comm), size = tributary_size(comm);
    size_t sizes[] = {0, 1, 7, 65537};
    tributary_op_info info;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        int64_t *in = malloc(8 * n * size + 8), *out = malloc(8 * n * size + 8), *want = malloc(8 * n * size + 8);
        for (size_t i = 0; i < n * size; i++) in[i] = value(rank, i);
        for (size_t i = 0; i < n * size; i++) {
            want[i] = 0;
            for (int r = 0; r < size; r++) want[i] += value(r, i);
        }
        /* Allreduce, out of place then in place. */
        rc = tributary_allreduce(comm, in, out, n, TRIBUTARY_INT64, TRIBUTARY_SUM, &info);
        CHECK(rc == TRIBUTARY_SUCCESS && memcmp(out, want, 8 * n) == 0, "allreduce n=%zu", n);
        CHECK(info.in_network == 1 && strncmp(info.path, "in-network", 10) == 0, "allreduce path %s", info.path);
        memcpy(out, in, 8 * n);
        rc = tributary_allreduce(comm, out, out, n, TRIBUTARY_INT64, TRIBUTARY_SUM, NULL);
        CHECK(rc == TRIBUTARY_SUCCESS && memcmp(out, want, 8 * n) == 0, "allreduce in place n=%zu", n);
        /* Max over int32. */
        int32_t *small = malloc(4 * n + 4), *big = malloc(4 * n + 4);
        for (size_t i = 0; i < n; i++) small[i] = (int32_t)(i % 5 == 0 ? rank : -rank);
        rc = tributary_allreduce(comm, small, big, n, TRIBUTARY_INT32, TRIBUTARY_MAX, NULL);
        for (size_t i = 0; i < n; i++) CHECK(rc == 0 && big[i] == (i % 5 == 0 ? size - 1 : 0), "max n=%zu i=%zu", n, i);
        free(small);
        free(big);
        /* Reduce to the last rank. */
        memset(out, 0, 8 * n);
        rc = tributary_reduce(comm, in, rank == size - 1 ? out : NULL, n, TRIBUTARY_INT64, TRIBUTARY_SUM, size - 1, NULL);
        CHECK(rc == 0 && (rank != size - 1 || memcmp(out, want, 8 * n) == 0), "reduce n=%zu", n);
        /* Broadcast from rank 1. */
        for (size_t i = 0; i < n; i++) out[i] = rank == 1 ? value(1, i) : 0;
        rc = tributary_broadcast(comm, out, n, TRIBUTARY_INT64, 1, NULL);
        for (size_t i = 0; i < n; i++) CHECK(rc == 0 && out[i] == value(1, i), "broadcast n=%zu", n);
        /* Reduce-scatter: block `rank` of the sum. */
        rc = tributary_reduce_scatter(comm, in, out, n, TRIBUTARY_INT64, TRIBUTARY_SUM, NULL);
        CHECK(rc == 0 && memcmp(out, want + rank * n, 8 * n) == 0, "reduce_scatter n=%zu", n);
        /* All-gather, out of place and in place. */
        rc = tributary_all_gather(comm, in, out, n, TRIBUTARY_INT64, NULL);
        for (int r = 0; r < size; r++)
            for (size_t i = 0; i < n; i++) CHECK(rc == 0 && out[r * n + i] == value(r, i), "all_gather n=%zu", n);
        memset(out, 0x77, 8 * n * size);
        memcpy(out + rank * n, in, 8 * n);
        rc = tributary_all_gather(comm, out + rank * n, out, n, TRIBUTARY_INT64, NULL);
        for (int r = 0; r < size; r++)
            for (size_t i = 0; i < n; i++) CHECK(rc == 0 && out[r * n + i] == value(r, i), "all_gather in place n=%zu", n);
        free(in);
        free(out);
        free(want);
    }
    CHECK(tributary_barrier(comm, &info) == TRIBUTARY_SUCCESS, "barrier");
    /* The caller's mistakes: refused, named, and the communicator still works. */
    float f = 1;
    rc = tributary_allreduce(comm, &f, &f, 1, TRIBUTARY_FLOAT32, TRIBUTARY_BXOR, NULL);
    CHECK(rc == TRIBUTARY_ERROR_INVALID_ARGUMENT && strstr(tributary_last_error(), "bxor"), "bxor on float: %d %s", rc,
          tributary_last_error());
    rc = tributary_allreduce(comm, &f, &f, 1, (tributary_dtype_t)42, TRIBUTARY_SUM, NULL);
    CHECK(rc == TRIBUTARY_ERROR_INVALID_ARGUMENT && strstr(tributary_last_error(), "dtype 42"), "bad dtype");
    rc = tributary_allreduce(NULL, &f, &f, 1, TRIBUTARY_FLOAT32, TRIBUTARY_SUM, NULL);
    CHECK(rc == TRIBUTARY_ERROR_INVALID_ARGUMENT, "null communicator");
    CHECK(strcmp(tributary_error_string(TRIBUTARY_ERROR_NOT_BIT_EXACT), "the result is not bit-exact against the host replay") == 0,
          "error string");
    rc = tributary_allreduce(comm, &f, &f, 1, TRIBUTARY_FLOAT32, TRIBUTARY_SUM, &info);
    CHECK(rc == 0 && f == (float)size, "allreduce after errors: %g", f);
    CHECK(tributary_finalize(comm) == TRIBUTARY_SUCCESS, "finalize");
    if (rank == 0) printf("%s: %d failures at rank 0\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}
