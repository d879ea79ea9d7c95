/*
 * tributary.h — reduce through Tributary's emulated switches from C (libtributary.so).
 *
 * NCCL-shaped: every rank of a job calls the same collectives in the same order with matching
 * arguments. A communicator joins a job on a running fabric (`tributary serve`, or the one
 * `tributary mpirun` starts) and reduces in-network through the job's aggregation tree, or on the
 * host ring when the fabric says in-network cannot serve the job (the operation's info says which).
 *
 * Blocking: every call returns when this rank's part of the operation is complete (its result
 * buffer holds the result, its send buffer may be reused).
 * Threads: calls on one communicator are serialised by the library (a second thread waits); use one
 * communicator per thread for concurrency, as with NCCL. Different communicators are independent.
 * Errors: every call returns a tributary_result_t; tributary_error_string names the code and
 * tributary_last_error the cause (rank, switch, job) of the last failure on the calling thread.
 */
#ifndef TRIBUTARY_H
#define TRIBUTARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRIBUTARY_VERSION_MAJOR 0
#define TRIBUTARY_VERSION_MINOR 1

typedef enum {
    TRIBUTARY_SUCCESS = 0,
    TRIBUTARY_ERROR_INVALID_ARGUMENT = 1, /* a null handle, a bad dtype/op pair, a count out of range */
    TRIBUTARY_ERROR_NO_FABRIC = 2,        /* no endpoint, key or job secret found, or the fabric is unreachable */
    TRIBUTARY_ERROR_JOIN = 3,             /* the fabric refused or could not assemble the job */
    TRIBUTARY_ERROR_OPERATION = 4,        /* an operation failed (a peer or switch lost, a mismatch, a timeout) */
    TRIBUTARY_ERROR_NOT_BIT_EXACT = 5,    /* validation on: the result differs from the host replay */
    TRIBUTARY_ERROR_CLOSED = 6            /* the communicator was finalized or aborted */
} tributary_result_t;

/* Element types (the values are the wire format's). */
typedef enum {
    TRIBUTARY_FLOAT32 = 1, TRIBUTARY_FLOAT64 = 2, TRIBUTARY_FLOAT16 = 3, TRIBUTARY_BFLOAT16 = 4,
    TRIBUTARY_INT32 = 5, TRIBUTARY_INT64 = 6, TRIBUTARY_UINT32 = 7, TRIBUTARY_UINT64 = 8,
    TRIBUTARY_INT8 = 9, TRIBUTARY_UINT8 = 10
} tributary_dtype_t;

/* Reductions; BAND, BOR and BXOR are for integer types only. */
typedef enum {
    TRIBUTARY_SUM = 1, TRIBUTARY_PROD = 2, TRIBUTARY_MIN = 3, TRIBUTARY_MAX = 4,
    TRIBUTARY_BAND = 5, TRIBUTARY_BOR = 6, TRIBUTARY_BXOR = 7
} tributary_op_t;

/* Explicit settings; tributary_config_init fills every field from the environment, and a field
 * left NULL (or negative) at tributary_init_config is taken from the environment the same way:
 *   endpoint_file   $TRIBUTARY_FABRIC (the file `tributary serve --endpoint-file` writes)
 *   coordinator     host:port, with client_key_file, instead of an endpoint file
 *   client_key_file $TRIBUTARY_CLIENT_KEY_FILE, else the endpoint file's
 *   job             $TRIBUTARY_JOB, else the launcher's job id (Open MPI, Slurm, torchrun)
 *   job_secret      $TRIBUTARY_JOB_SECRET (every rank of the job holds the same)
 *   rank, size      Open MPI, PMI/MPICH, Slurm or torchrun variables
 *   host            topology host this rank runs on ($TRIBUTARY_NODE inside a fabric namespace)
 *   host_number     topology host number when host is NULL (-1: the rank's)
 *   timeout_seconds seconds without progress before an operation fails naming who is missing
 *   validate        1: the fabric checks every result bit for bit against its host replay
 *                   ($TRIBUTARY_VALIDATE=1); the operation then returns NOT_BIT_EXACT on a mismatch */
typedef struct {
    const char *endpoint_file;
    const char *coordinator;
    const char *client_key_file;
    const char *job;
    const char *job_secret;
    int rank;
    int size;
    const char *host;
    int host_number;
    int timeout_seconds;
    int validate;
} tributary_config;

/* What one operation did. */
typedef struct {
    uint64_t op_seq;         /* the job's operation number */
    int in_network;          /* 1: through the switches; 0: on the host ring */
    int bit_exact;           /* 1 / 0 with validation on, -1 unchecked */
    double seconds;          /* this rank's time in the call */
    uint64_t bytes_sent;     /* bytes this rank put on its links */
    uint64_t bytes_received;
    char path[256];          /* "in-network: leaf0 -> spine0 ...", "host fallback: <reason>", ... */
} tributary_op_info;

typedef struct tributary_comm tributary_comm;

void tributary_config_init(tributary_config *config);

/* Joins the job (every rank must call it; it returns once all have joined or fails naming who is
 * missing). On success *comm is a communicator to pass to every other call. */
tributary_result_t tributary_init(tributary_comm **comm);
tributary_result_t tributary_init_config(const tributary_config *config, tributary_comm **comm);

int tributary_rank(const tributary_comm *comm);
int tributary_size(const tributary_comm *comm);

/* sendbuf == recvbuf is in place. info may be NULL. */
tributary_result_t tributary_allreduce(tributary_comm *comm, const void *sendbuf, void *recvbuf, size_t count,
                                       tributary_dtype_t dtype, tributary_op_t op, tributary_op_info *info);
/* recvbuf is written at root only (and may be NULL elsewhere). */
tributary_result_t tributary_reduce(tributary_comm *comm, const void *sendbuf, void *recvbuf, size_t count,
                                    tributary_dtype_t dtype, tributary_op_t op, int root, tributary_op_info *info);
tributary_result_t tributary_broadcast(tributary_comm *comm, void *buffer, size_t count, tributary_dtype_t dtype,
                                       int root, tributary_op_info *info);
tributary_result_t tributary_barrier(tributary_comm *comm, tributary_op_info *info);
/* sendbuf holds size * recvcount elements; rank r receives block r of the reduction. In place when
 * recvbuf == (char *)sendbuf + rank * recvcount * element size. */
tributary_result_t tributary_reduce_scatter(tributary_comm *comm, const void *sendbuf, void *recvbuf,
                                            size_t recvcount, tributary_dtype_t dtype, tributary_op_t op,
                                            tributary_op_info *info);
/* recvbuf receives size * sendcount elements, rank r's sendbuf as block r. In place when
 * sendbuf == (char *)recvbuf + rank * sendcount * element size. */
tributary_result_t tributary_all_gather(tributary_comm *comm, const void *sendbuf, void *recvbuf, size_t sendcount,
                                        tributary_dtype_t dtype, tributary_op_info *info);

/* Leaves the job and frees the communicator (every rank should call it). */
tributary_result_t tributary_finalize(tributary_comm *comm);

const char *tributary_error_string(tributary_result_t result);
/* The cause of the calling thread's last failure ("" if none); valid until its next failing call. */
const char *tributary_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
