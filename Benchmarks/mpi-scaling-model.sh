#!/usr/bin/env bash
# The paper model of data-parallel scaling in Benchmarks/DATA-PARALLEL.md: all-reduce time per
# step for p ranks over a network, against the measured compute time of a step, with and without
# overlapping the all-reduce with the backward pass.
#
#   bash Benchmarks/mpi-scaling-model.sh MLP_MS CNN_MS ENCODER_LAYER_MS [CORES_PER_RANK]
#
# MLP_MS, CNN_MS: one thread's compute time (forward + backward) of one step on one rank's batch
# (qatkit-mpi-bench "compute" column, QATKIT_THREADS=1: MLP batch 64, bench CNN batch 64).
# ENCODER_LAYER_MS: the same for one MiniLM-size encoder layer on 8 x 128 tokens; MiniLM's step
# is taken as 6 layers (embedding lookups cost little compute; their gradient is all-reduced).
# CORES_PER_RANK (default 1) divides the compute time (a rank with that many cores, ideal).
#
# Model (assumptions, not measurements):
#   all-reduce (reduce-scatter + all-gather, what MPI uses for large messages):
#     T_ar = 2·log2(p)·alpha + 2·(p-1)/p · S / B
#   10 Gb/s Ethernet, TCP: B = 1.25 GB/s, alpha = 25 us; 100 Gb/s RDMA: B = 12.5 GB/s, alpha = 3 us
#   S = bytes all-reduced per step (the fused buffer: 4 bytes per parameter, + flags)
#   backward = 2/3 of compute; ideal overlap hides the all-reduce behind the backward pass:
#     step = compute + T_ar (no overlap);  step = compute + max(0, T_ar - backward) (overlap)
#   weak scaling (each rank keeps its batch): efficiency = compute / step, speedup = p · efficiency
set -euo pipefail
mlp=${1:?MLP compute ms}; cnn=${2:?CNN compute ms}; layer=${3:?encoder layer compute ms}; cores=${4:-1}
awk -v mlp="$mlp" -v cnn="$cnn" -v layer="$layer" -v cores="$cores" 'BEGIN {
  split("MLP 64-256-256-10|bench CNN|MiniLM (22.7 M)", name, "|")
  bytes[1] = 340036; bytes[2] = 241476; bytes[3] = 22700000 * 4
  comp[1] = mlp / cores; comp[2] = cnn / cores; comp[3] = 6 * layer / cores
  split("10 Gb/s TCP|100 Gb/s RDMA", net, "|"); bw[1] = 1.25e9; bw[2] = 12.5e9; alpha[1] = 25e-6; alpha[2] = 3e-6
  printf "%-17s %7s %-13s %5s %10s %10s %9s %8s %8s %11s\n", "model", "MB/step", "network", "ranks", "compute ms", "all-red ms", "comm/comp", "eff", "eff+ovl", "speedup+ovl"
  for (m = 1; m <= 3; m++) for (n = 1; n <= 2; n++) for (p = 8; p <= 64; p *= 2) {
    t = 2 * log(p) / log(2) * alpha[n] + 2 * (p - 1) / p * bytes[m] / bw[n]
    c = comp[m] / 1000; b = 2 * c / 3
    e = c / (c + t); over = t - b; if (over < 0) over = 0; eo = c / (c + over)
    printf "%-17s %7.2f %-13s %5d %10.2f %10.3f %9.3f %7.0f%% %7.0f%% %11.1f\n", name[m], bytes[m] / 1e6, net[n], p, c * 1000, t * 1000, t / c, 100 * e, 100 * eo, p * eo
  }
  # Strong scaling: the global batch stays, each rank computes 1/p of it (ideal split).
  printf "\nstrong scaling (same global batch, compute / p), speedup over one rank without / with overlap:\n"
  printf "%-17s %-13s %8s %8s %8s %8s %8s %8s  %s\n", "model", "network", "p=2", "p=4", "p=8", "p=16", "p=32", "p=64", "best p (no overlap)"
  for (m = 1; m <= 3; m++) for (n = 1; n <= 2; n++) {
    line = ""; best = 1; bestS = 1
    for (p = 2; p <= 64; p *= 2) {
      t = 2 * log(p) / log(2) * alpha[n] + 2 * (p - 1) / p * bytes[m] / bw[n]
      c = comp[m] / 1000 / p; b = 2 * c / 3; over = t - b; if (over < 0) over = 0
      s = (comp[m] / 1000) / (c + t); so = (comp[m] / 1000) / (c + over)
      if (s > bestS) { bestS = s; best = p }
      line = line sprintf(" %4.1f/%-4.1f", s, so)
    }
    printf "%-17s %-13s%s  %d (%.1fx)\n", name[m], net[n], line, best, bestS
  }
}'
