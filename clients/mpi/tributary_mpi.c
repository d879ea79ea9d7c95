/*
 * libtributary_mpi.so — runs an unmodified MPI program's collectives through Tributary's emulated
 * switches. Loaded with LD_PRELOAD (`tributary mpirun` sets it), it defines the MPI entry points
 * below and reaches the real implementation through the PMPI_ profiling interface, as every MPI
 * tool does. Everything it cannot serve goes to PMPI_ with the reason counted; at MPI_Finalize
 * rank 0 prints one summary line.
 *
 * Each communicator is one Tributary job: MPI_COMM_WORLD joins at MPI_Init, any other
 * intracommunicator at its first collective (its name agreed by a PMPI_Bcast from its rank 0, so
 * two communicators never mix), and it leaves at MPI_Comm_free or MPI_Finalize.
 *
 * Environment: TRIBUTARY_FABRIC (the fabric's endpoint file), TRIBUTARY_JOB_SECRET (made and shared
 * at MPI_Init when unset), TRIBUTARY_MPI_STRICT=1 (no fabric is an error, not a warning),
 * TRIBUTARY_VALIDATE=1 (the fabric checks every result against its host replay).
 */
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tributary.h"

typedef struct comm_state {
    tributary_comm *comm;   /* NULL: every collective on this communicator goes to PMPI_ */
    const char *why;        /* why it does, when comm is NULL */
    struct comm_state *next;
} comm_state;

static int fabric_usable;        /* every rank found a fabric at MPI_Init */
static int world_rank = -1;
static char world_job[128];
static int keyval = MPI_KEYVAL_INVALID;
static comm_state *states;       /* every live state, for MPI_Finalize */
static unsigned long communicators_made;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Counts: operations through the fabric (in-network or its host ring) and passed to MPI by reason. */
static unsigned long served_in_network, served_host_ring;
#define MAX_REASONS 32
static struct { const char *reason; unsigned long count; } passed[MAX_REASONS];

static void count_passed(const char *reason) {
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < MAX_REASONS && passed[i].reason && strcmp(passed[i].reason, reason) != 0) i++;
    if (i == MAX_REASONS) i = MAX_REASONS - 1; /* the last row takes any overflow of distinct reasons */
    if (!passed[i].reason) passed[i].reason = reason;
    passed[i].count++;
    pthread_mutex_unlock(&lock);
}

static void count_served(const tributary_op_info *info) {
    pthread_mutex_lock(&lock);
    if (info->in_network) served_in_network++; else served_host_ring++;
    pthread_mutex_unlock(&lock);
}

/* A failure inside an operation every rank started: MPI's error handler decides (fatal by default). */
static int failed(MPI_Comm comm, const char *call, tributary_result_t rc) {
    fprintf(stderr, "tributary: %s on rank %d failed: %s: %s\n", call, world_rank, tributary_error_string(rc),
            tributary_last_error());
    PMPI_Comm_call_errhandler(comm, MPI_ERR_OTHER);
    return MPI_ERR_OTHER;
}

/* A call not served: counted by its reason; `result` is MPI's own run of it. */
static int passed_to_mpi(const char *why, int result) {
    count_passed(why);
    return result;
}

/* The end of every served call: counted, or the failure handed to MPI's error handler. */
static int finished(MPI_Comm comm, const char *call, tributary_result_t rc, const tributary_op_info *info) {
    if (rc != TRIBUTARY_SUCCESS) return failed(comm, call, rc);
    count_served(info);
    return MPI_SUCCESS;
}

/* MPI types Tributary reduces natively; other named types still travel as bytes where no op applies. */
static int map_dtype(MPI_Datatype t, tributary_dtype_t *out) {
    struct { MPI_Datatype mpi; tributary_dtype_t tributary; } table[] = {
        {MPI_FLOAT, TRIBUTARY_FLOAT32}, {MPI_DOUBLE, TRIBUTARY_FLOAT64},
        {MPI_INT32_T, TRIBUTARY_INT32}, {MPI_INT64_T, TRIBUTARY_INT64},
        {MPI_UINT32_T, TRIBUTARY_UINT32}, {MPI_UINT64_T, TRIBUTARY_UINT64},
        {MPI_INT8_T, TRIBUTARY_INT8}, {MPI_UINT8_T, TRIBUTARY_UINT8},
        {MPI_SIGNED_CHAR, TRIBUTARY_INT8}, {MPI_UNSIGNED_CHAR, TRIBUTARY_UINT8}, {MPI_BYTE, TRIBUTARY_UINT8},
        {MPI_LONG_LONG, TRIBUTARY_INT64}, {MPI_UNSIGNED_LONG_LONG, TRIBUTARY_UINT64},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (t == table[i].mpi) { *out = table[i].tributary; return 1; }
    /* Types whose width depends on the ABI or the Fortran compiler: mapped by their size here. */
    struct { MPI_Datatype mpi; int is_float, is_signed; } sized[] = {
        {MPI_AINT, 0, 1}, {MPI_OFFSET, 0, 1}, {MPI_COUNT, 0, 1},
        {MPI_INTEGER, 0, 1}, {MPI_INTEGER1, 0, 1}, {MPI_INTEGER4, 0, 1}, {MPI_INTEGER8, 0, 1},
        {MPI_REAL, 1, 1}, {MPI_DOUBLE_PRECISION, 1, 1}, {MPI_REAL4, 1, 1}, {MPI_REAL8, 1, 1},
    };
    for (size_t i = 0; i < sizeof sized / sizeof sized[0]; i++) {
        int bytes = 0;
        if (t != sized[i].mpi || sized[i].mpi == MPI_DATATYPE_NULL || PMPI_Type_size(t, &bytes) != MPI_SUCCESS) continue;
        if (sized[i].is_float && (bytes == 4 || bytes == 8)) {
            *out = bytes == 4 ? TRIBUTARY_FLOAT32 : TRIBUTARY_FLOAT64;
            return 1;
        }
        if (!sized[i].is_float && (bytes == 1 || bytes == 4 || bytes == 8)) {
            *out = bytes == 1 ? TRIBUTARY_INT8 : bytes == 4 ? TRIBUTARY_INT32 : TRIBUTARY_INT64;
            return 1;
        }
        return 0;
    }
    /* C types whose width depends on the ABI. */
    if (t == MPI_INT || t == MPI_UNSIGNED) {
        if (sizeof(int) != 4) return 0;
        *out = t == MPI_INT ? TRIBUTARY_INT32 : TRIBUTARY_UINT32;
        return 1;
    }
    if (t == MPI_LONG || t == MPI_UNSIGNED_LONG) {
        if (sizeof(long) == 8) *out = t == MPI_LONG ? TRIBUTARY_INT64 : TRIBUTARY_UINT64;
        else *out = t == MPI_LONG ? TRIBUTARY_INT32 : TRIBUTARY_UINT32;
        return 1;
    }
    return 0;
}

static int map_op(MPI_Op op, tributary_op_t *out, const char **why) {
    struct { MPI_Op mpi; tributary_op_t tributary; } table[] = {
        {MPI_SUM, TRIBUTARY_SUM}, {MPI_PROD, TRIBUTARY_PROD}, {MPI_MIN, TRIBUTARY_MIN}, {MPI_MAX, TRIBUTARY_MAX},
        {MPI_BAND, TRIBUTARY_BAND}, {MPI_BOR, TRIBUTARY_BOR}, {MPI_BXOR, TRIBUTARY_BXOR},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (op == table[i].mpi) { *out = table[i].tributary; return 1; }
    struct { MPI_Op mpi; const char *name; } named[] = {
        {MPI_MAXLOC, "MPI_MAXLOC"}, {MPI_MINLOC, "MPI_MINLOC"}, {MPI_LAND, "MPI_LAND"}, {MPI_LOR, "MPI_LOR"},
        {MPI_LXOR, "MPI_LXOR"}, {MPI_REPLACE, "MPI_REPLACE"}, {MPI_NO_OP, "MPI_NO_OP"},
    };
    *why = "user-defined op";
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (op == named[i].mpi) *why = named[i].name;
    return 0;
}

/* Named (predefined) datatype: bytes that can travel without an op. */
static int named_size(MPI_Datatype t, size_t *size) {
    int integers, addresses, types, combiner, bytes;
    if (PMPI_Type_get_envelope(t, &integers, &addresses, &types, &combiner) != MPI_SUCCESS) return 0;
    if (combiner != MPI_COMBINER_NAMED) return 0;
    if (PMPI_Type_size(t, &bytes) != MPI_SUCCESS || bytes <= 0) return 0;
    *size = (size_t)bytes;
    return 1;
}

static size_t dtype_size(tributary_dtype_t d) {
    switch (d) {
    case TRIBUTARY_FLOAT64: case TRIBUTARY_INT64: case TRIBUTARY_UINT64: return 8;
    case TRIBUTARY_FLOAT16: case TRIBUTARY_BFLOAT16: return 2;
    case TRIBUTARY_INT8: case TRIBUTARY_UINT8: return 1;
    default: return 4;
    }
}

static int is_float(tributary_dtype_t d) {
    return d == TRIBUTARY_FLOAT32 || d == TRIBUTARY_FLOAT64 || d == TRIBUTARY_FLOAT16 || d == TRIBUTARY_BFLOAT16;
}

static int delete_state(MPI_Comm comm, int key, void *value, void *extra) {
    (void)comm; (void)key; (void)extra;
    comm_state *state = value;
    pthread_mutex_lock(&lock);
    for (comm_state **p = &states; *p; p = &(*p)->next)
        if (*p == state) { *p = state->next; break; }
    pthread_mutex_unlock(&lock);
    if (state->comm) tributary_finalize(state->comm);
    free(state);
    return MPI_SUCCESS;
}

/* Joins `comm`'s job (collective over comm); every rank learns whether all joined. */
static comm_state *join(MPI_Comm comm, const char *job) {
    comm_state *state = calloc(1, sizeof *state);
    int rank, size;
    PMPI_Comm_rank(comm, &rank);
    PMPI_Comm_size(comm, &size);
    tributary_config config;
    tributary_config_init(&config);
    config.job = job;
    config.rank = rank;
    config.size = size;
    config.host_number = world_rank; /* a rank sits on its world rank's host, whichever communicator */
    int joined = tributary_init_config(&config, &state->comm) == TRIBUTARY_SUCCESS, all = 0;
    PMPI_Allreduce(&joined, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all) {
        if (state->comm) tributary_finalize(state->comm);
        state->comm = NULL;
        state->why = "the fabric refused the communicator";
        if (rank == 0)
            fprintf(stderr, "tributary: communicator %s: not every rank could join (%s); its collectives go to MPI\n",
                    job, joined ? "another rank failed" : tributary_last_error());
    }
    pthread_mutex_lock(&lock);
    state->next = states;
    states = state;
    pthread_mutex_unlock(&lock);
    return state;
}

/* The state of `comm`, made at its first collective (every rank of it is in that collective). */
static comm_state *state_of(MPI_Comm comm) {
    void *value;
    int found = 0;
    PMPI_Comm_get_attr(comm, keyval, &value, &found);
    if (found) return value;
    comm_state *state;
    int inter = 0, size = 0;
    PMPI_Comm_test_inter(comm, &inter);
    if (inter) {
        state = calloc(1, sizeof *state);
        state->why = "intercommunicator";
    } else if (PMPI_Comm_size(comm, &size), size < 2) {
        state = calloc(1, sizeof *state);
        state->why = "single-rank communicator";
    } else {
        /* Its rank 0 names it: the world job, its own world rank and how many it has named. */
        char job[sizeof world_job + 48] = {0};
        int rank;
        PMPI_Comm_rank(comm, &rank);
        if (rank == 0) {
            pthread_mutex_lock(&lock);
            unsigned long n = ++communicators_made;
            pthread_mutex_unlock(&lock);
            snprintf(job, sizeof job, "%s.c%d.%lu", world_job, world_rank, n);
        }
        PMPI_Bcast(job, sizeof job, MPI_CHAR, 0, comm);
        state = join(comm, job);
    }
    PMPI_Comm_set_attr(comm, keyval, state);
    return state;
}

/* The Tributary communicator for `comm`, or NULL with the reason to count. */
static tributary_comm *route(MPI_Comm comm, const char **why) {
    if (!fabric_usable) { *why = "no fabric"; return NULL; }
    comm_state *state = state_of(comm);
    if (!state->comm) *why = state->why;
    return state->comm;
}

/* The Tributary communicator for a reduction, or NULL with the reason it goes to MPI. */
static tributary_comm *reducible(MPI_Comm comm, MPI_Datatype datatype, MPI_Op op, tributary_dtype_t *dtype,
                                 tributary_op_t *top, const char **why) {
    tributary_comm *t = route(comm, why);
    if (!t) return NULL;
    if (!map_op(op, top, why)) return NULL;
    if (!map_dtype(datatype, dtype)) { *why = "datatype Tributary does not reduce"; return NULL; }
    if (is_float(*dtype) && *top >= TRIBUTARY_BAND) { *why = "bitwise op on floating point"; return NULL; }
    return t;
}

static void make_identity(void) {
    const char *job = getenv("TRIBUTARY_JOB");
    if (world_rank == 0) {
        /* Its own name under the launch's: the program may also join $TRIBUTARY_JOB itself (the
         * C library or Python package beside MPI). */
        if (job && *job) snprintf(world_job, sizeof world_job, "%s.mpi", job);
        else {
            char host[64] = "host";
            gethostname(host, sizeof host - 1);
            snprintf(world_job, sizeof world_job, "mpi-%s-%d-%ld", host, (int)getpid(), (long)time(NULL));
        }
    }
    PMPI_Bcast(world_job, sizeof world_job, MPI_CHAR, 0, MPI_COMM_WORLD);
    const char *secret = getenv("TRIBUTARY_JOB_SECRET");
    int have = secret && *secret, all = 0;
    PMPI_Allreduce(&have, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all) {
        /* The MPI job's own channel carries a fresh secret to every rank. */
        char made[65] = {0};
        if (world_rank == 0) {
            unsigned char raw[32] = {0};
            FILE *random = fopen("/dev/urandom", "rb");
            if (!random || fread(raw, 1, sizeof raw, random) != sizeof raw) {
                fprintf(stderr, "tributary: cannot read /dev/urandom for a job secret\n");
                PMPI_Abort(MPI_COMM_WORLD, 1);
            }
            fclose(random);
            for (int i = 0; i < 32; i++) snprintf(made + 2 * i, 3, "%02x", raw[i]);
        }
        PMPI_Bcast(made, sizeof made, MPI_CHAR, 0, MPI_COMM_WORLD);
        setenv("TRIBUTARY_JOB_SECRET", made, 1);
    }
}

static void start(void) {
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_state, &keyval, NULL);
    make_identity();
    const char *endpoint = getenv("TRIBUTARY_FABRIC");
    int here = endpoint && access(endpoint, R_OK) == 0, all = 0;
    PMPI_Allreduce(&here, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    int strict = getenv("TRIBUTARY_MPI_STRICT") && strcmp(getenv("TRIBUTARY_MPI_STRICT"), "1") == 0;
    if (!all) {
        if (world_rank == 0) /* once for the job */
            fprintf(stderr, "tributary: rank %d: %s; every collective goes to MPI%s\n", world_rank,
                    here ? "another rank found no fabric" :
                    endpoint ? "cannot read the fabric endpoint file named by TRIBUTARY_FABRIC" :
                    "no fabric (TRIBUTARY_FABRIC is not set; `tributary mpirun` sets it)",
                    strict ? " — TRIBUTARY_MPI_STRICT=1: stopping" : "");
        if (strict) PMPI_Abort(MPI_COMM_WORLD, 3);
        return;
    }
    fabric_usable = 1;
    comm_state *world = state_of(MPI_COMM_WORLD);
    if (!world->comm && strict) {
        if (world_rank == 0) fprintf(stderr, "tributary: TRIBUTARY_MPI_STRICT=1 and the fabric refused the job\n");
        PMPI_Abort(MPI_COMM_WORLD, 3);
    }
}

int MPI_Init(int *argc, char ***argv) {
    int rc = PMPI_Init(argc, argv);
    if (rc == MPI_SUCCESS) start();
    return rc;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    if (rc == MPI_SUCCESS) start();
    return rc;
}

static void *leave(void *comm) {
    tributary_finalize(comm);
    return NULL;
}

int MPI_Finalize(void) {
    if (world_rank == 0) {
        unsigned long passed_total = 0;
        for (int i = 0; i < MAX_REASONS && passed[i].reason; i++) passed_total += passed[i].count;
        char line[2048];
        int n = snprintf(line, sizeof line, "tributary: %lu collectives in-network", served_in_network);
        if (served_host_ring)
            n += snprintf(line + n, sizeof line - n, ", %lu on the fabric's host ring", served_host_ring);
        n += snprintf(line + n, sizeof line - n, ", %lu passed to MPI", passed_total);
        for (int i = 0; i < MAX_REASONS && passed[i].reason && n < (int)sizeof line; i++)
            n += snprintf(line + n, sizeof line - n, "%s%lu × %s", i == 0 ? ": " : ", ", passed[i].count,
                          passed[i].reason);
        fprintf(stderr, "%s\n", line);
    }
    /* Leave every job still joined, all at once: a rank leaving its jobs one by one could wait in
     * one for a rank that is leaving another first. The states stay allocated (MPI may still run
     * the attributes' delete callbacks in PMPI_Finalize; they find nothing left to leave). */
    PMPI_Barrier(MPI_COMM_WORLD);
    pthread_mutex_lock(&lock);
    size_t live = 0;
    for (comm_state *state = states; state; state = state->next) live += state->comm != NULL;
    pthread_t *threads = calloc(live + 1, sizeof *threads);
    size_t started = 0;
    for (comm_state *state = states; state; state = state->next) {
        if (!state->comm) continue;
        if (pthread_create(&threads[started], NULL, leave, state->comm) == 0) started++;
        else tributary_finalize(state->comm);
        state->comm = NULL;
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
    free(threads);
    return PMPI_Finalize();
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
    const char *why = NULL;
    tributary_dtype_t dtype;
    tributary_op_t top;
    tributary_comm *t = reducible(comm, datatype, op, &dtype, &top, &why);
    if (!t) return passed_to_mpi(why, PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm));
    tributary_op_info info;
    tributary_result_t rc = tributary_allreduce(t, sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf, recvbuf,
                                                (size_t)count, dtype, top, &info);
    return finished(comm, "MPI_Allreduce", rc, &info);
}

int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op, int root,
               MPI_Comm comm) {
    const char *why = NULL;
    tributary_dtype_t dtype;
    tributary_op_t top;
    tributary_comm *t = reducible(comm, datatype, op, &dtype, &top, &why);
    if (!t) return passed_to_mpi(why, PMPI_Reduce(sendbuf, recvbuf, count, datatype, op, root, comm));
    tributary_op_info info;
    tributary_result_t rc = tributary_reduce(t, sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf, recvbuf, (size_t)count,
                                             dtype, top, root, &info);
    return finished(comm, "MPI_Reduce", rc, &info);
}

int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm) {
    const char *why = NULL;
    size_t size;
    tributary_comm *t = route(comm, &why);
    if (t && !named_size(datatype, &size)) { t = NULL; why = "derived datatype"; }
    if (!t) return passed_to_mpi(why, PMPI_Bcast(buffer, count, datatype, root, comm));
    tributary_op_info info;
    tributary_result_t rc = tributary_broadcast(t, buffer, (size_t)count * size, TRIBUTARY_UINT8, root, &info);
    return finished(comm, "MPI_Bcast", rc, &info);
}

int MPI_Barrier(MPI_Comm comm) {
    const char *why = NULL;
    tributary_comm *t = route(comm, &why);
    if (!t) return passed_to_mpi(why, PMPI_Barrier(comm));
    tributary_op_info info;
    tributary_result_t rc = tributary_barrier(t, &info);
    return finished(comm, "MPI_Barrier", rc, &info);
}

int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype datatype, MPI_Op op,
                             MPI_Comm comm) {
    const char *why = NULL;
    tributary_dtype_t dtype;
    tributary_op_t top;
    tributary_comm *t = reducible(comm, datatype, op, &dtype, &top, &why);
    if (!t) return passed_to_mpi(why, PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, datatype, op, comm));
    /* In place, the whole input is in recvbuf and the block lands at its start. */
    tributary_op_info info;
    tributary_result_t rc = tributary_reduce_scatter(t, sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf, recvbuf,
                                                     (size_t)recvcount, dtype, top, &info);
    return finished(comm, "MPI_Reduce_scatter_block", rc, &info);
}

int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[], MPI_Datatype datatype, MPI_Op op,
                       MPI_Comm comm) {
    const char *why = NULL;
    tributary_dtype_t dtype;
    tributary_op_t top;
    tributary_comm *t = reducible(comm, datatype, op, &dtype, &top, &why);
    if (!t) return passed_to_mpi(why, PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, datatype, op, comm));
    /* Blocks of differing sizes: the whole vector reduced, this rank's block kept. */
    int rank, size;
    PMPI_Comm_rank(comm, &rank);
    PMPI_Comm_size(comm, &size);
    size_t total = 0, before = 0, width = dtype_size(dtype);
    for (int r = 0; r < size; r++) {
        if (r == rank) before = total;
        total += (size_t)recvcounts[r];
    }
    void *whole = malloc(total * width + 1);
    if (!whole) return failed(comm, "MPI_Reduce_scatter (out of memory)", TRIBUTARY_ERROR_OPERATION);
    tributary_op_info info;
    tributary_result_t rc = tributary_allreduce(t, sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf, whole, total, dtype,
                                                top, &info);
    if (rc == TRIBUTARY_SUCCESS) memcpy(recvbuf, (char *)whole + before * width, (size_t)recvcounts[rank] * width);
    free(whole);
    return finished(comm, "MPI_Reduce_scatter", rc, &info);
}

int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
                  MPI_Datatype recvtype, MPI_Comm comm) {
    const char *why = NULL;
    size_t size;
    tributary_comm *t = route(comm, &why);
    if (t && (!named_size(recvtype, &size) || (sendbuf != MPI_IN_PLACE && !named_size(sendtype, &size)))) {
        t = NULL;
        why = "derived datatype";
    }
    if (t && sendbuf != MPI_IN_PLACE && (sendtype != recvtype || sendcount != recvcount)) {
        t = NULL;
        why = "send and receive types differ";
    }
    if (!t) return passed_to_mpi(why, PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm));
    int rank;
    PMPI_Comm_rank(comm, &rank);
    size_t block = (size_t)recvcount * size;
    const void *own = sendbuf == MPI_IN_PLACE ? (const char *)recvbuf + (size_t)rank * block : sendbuf;
    tributary_op_info info;
    tributary_result_t rc = tributary_all_gather(t, own, recvbuf, block, TRIBUTARY_UINT8, &info);
    return finished(comm, "MPI_Allgather", rc, &info);
}
