// The C surface of libibverbs and librdmacm that Tributary's Verbs module wraps.
// ibv_post_send/ibv_post_recv/ibv_poll_cq are static inline in verbs.h; Swift's importer calls them.
#ifndef TRIBUTARY_CVERBS_SHIM_H
#define TRIBUTARY_CVERBS_SHIM_H
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <rdma/rdma_verbs.h>
#endif
