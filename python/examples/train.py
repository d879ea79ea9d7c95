"""Data-parallel training of a small numpy model, its gradients all-reduced through the fabric.

Every rank holds the same initial weights, trains on its own shard of a synthetic classification
data set, and sums its gradients with every other rank's through the emulated switches each step
(the allreduce NCCL or Horovod would do). Because the switches fold in one fixed order, every rank
applies bit-identical updates: the weights stay bit-identical everywhere, which the example checks
at the end by gathering a digest of every rank's weights. Run with TRIBUTARY_VALIDATE=1 (or
`tributary mpirun --validate`) and the fabric also replays every gradient reduction on one host, in
the same order, and the example fails unless each was bit-exact.

    tributary mpirun -np 8 --config Configs/default.yaml -- python3 python/examples/train.py
"""

import argparse
import hashlib
import sys

import numpy as np

import tributary


def synthetic(seed: int, samples: int, features: int, classes: int):
    """A separable-ish data set: Gaussian blobs around one centre per class."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, size=(classes, features)).astype(np.float32)
    labels = rng.integers(0, classes, size=samples)
    points = centres[labels] + rng.normal(0, 1, size=(samples, features)).astype(np.float32)
    return points.astype(np.float32), labels


def forward(w1, b1, w2, b2, x):
    hidden = np.maximum(x @ w1 + b1, 0)
    logits = hidden @ w2 + b2
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    return hidden, p


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=64, help="samples per rank per step")
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()

    with tributary.init() as comm:
        features, hidden_units, classes = 20, 32, 4
        x, y = synthetic(7, 4096, features, classes)
        shard = np.arange(len(x)) % comm.size == comm.rank
        xs, ys = x[shard], y[shard]
        rng = np.random.default_rng(1234)  # the same initial weights on every rank
        w1 = (rng.normal(0, 0.3, size=(features, hidden_units))).astype(np.float32)
        b1 = np.zeros(hidden_units, np.float32)
        w2 = (rng.normal(0, 0.3, size=(hidden_units, classes))).astype(np.float32)
        b2 = np.zeros(classes, np.float32)
        params = [w1, b1, w2, b2]
        sizes = [p.size for p in params]
        batches = np.random.default_rng(99 + comm.rank)
        checked = in_network = 0
        for step in range(args.steps):
            pick = batches.integers(0, len(xs), size=args.batch)
            xb, yb = xs[pick], ys[pick]
            hidden, p = forward(w1, b1, w2, b2, xb)
            grad_logits = p.copy()
            grad_logits[np.arange(len(yb)), yb] -= 1
            grad_logits /= args.batch * comm.size
            g_w2 = hidden.T @ grad_logits
            g_b2 = grad_logits.sum(axis=0)
            grad_hidden = (grad_logits @ w2.T) * (hidden > 0)
            g_w1 = xb.T @ grad_hidden
            g_b1 = grad_hidden.sum(axis=0)
            # One flat buffer, one allreduce per step (as frameworks bucket their gradients).
            flat = np.concatenate([g.ravel() for g in (g_w1, g_b1, g_w2, g_b2)]).astype(np.float32)
            comm.allreduce(flat)
            info = comm.last
            in_network += info.in_network
            if info.bit_exact is not None:
                if not info.bit_exact:
                    print(f"rank {comm.rank}: step {step}: gradient allreduce not bit-exact", file=sys.stderr)
                    return 1
                checked += 1
            offset = 0
            for param, n in zip(params, sizes):
                param -= (args.lr * flat[offset:offset + n]).reshape(param.shape)
                offset += n
            if comm.rank == 0 and (step % 50 == 0 or step == args.steps - 1):
                _, p_all = forward(w1, b1, w2, b2, x)
                loss = -np.log(p_all[np.arange(len(y)), y] + 1e-12).mean()
                accuracy = (p_all.argmax(axis=1) == y).mean()
                print(f"step {step:4d}  loss {loss:.4f}  accuracy {accuracy:.3f}  ({info.path})", flush=True)
        digest = hashlib.sha256(b"".join(p.tobytes() for p in params)).digest()
        mine = np.frombuffer(digest, dtype=np.uint8).copy()
        everyone = comm.all_gather(mine).reshape(comm.size, -1)
        identical = all((row == everyone[0]).all() for row in everyone)
        _, p_all = forward(w1, b1, w2, b2, x)
        accuracy = float((p_all.argmax(axis=1) == y).mean())
        if comm.rank == 0:
            print(f"weights bit-identical on all {comm.size} ranks: {'yes' if identical else 'NO'}; "
                  f"accuracy {accuracy:.3f}; {in_network}/{args.steps} steps in-network; "
                  f"{checked} gradient reductions bit-exact against the fabric's host replay")
        if not identical or accuracy < 0.9:
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
