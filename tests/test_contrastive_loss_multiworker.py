"""InfoNCE under MultiWorkerMirroredStrategy: two local worker processes."""
import json
import socket

import contrastive_loss_worker
from contrastive_loss_worker import random_views


def free_ports(count):
  """`count` distinct ports that were free on 127.0.0.1 a moment ago."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(('127.0.0.1', 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def test_two_workers_match_single_process_global_batch(tmp_path):
  embeddings_1, embeddings_2 = random_views(6, seed=5)
  workers = [f'127.0.0.1:{port}' for port in free_ports(2)]
  envs = [{'TF_CONFIG': json.dumps({
      'cluster': {'worker': workers},
      'task': {'type': 'worker', 'index': index}})}
          for index in range(len(workers))]
  replicas = contrastive_loss_worker.run_processes(
      'multi_worker', embeddings_1, embeddings_2, 0.2, tmp_path, envs)
  assert list(replicas['replica_ids']) == [0, 1]
  contrastive_loss_worker.assert_matches_global_batch(
      replicas, embeddings_1, embeddings_2, 0.2)
