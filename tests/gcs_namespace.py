"""Runs a command in a private network namespace in which gs:// is emulated.

  unshare --mount --net -- python gcs_namespace.py WORK_DIR COMMAND...

(`command_in_namespace` builds that line.) Inside the new namespaces, as
root, it brings the loopback interface up, bind-mounts over /etc/hosts a
hosts file resolving Google's storage hosts to 127.0.0.1, starts the
emulator and its TLS proxy (`gcs_emulator.py`), and runs COMMAND with
CURL_CA_BUNDLE (the test CA) and GOOGLE_AUTH_TOKEN_FOR_TESTING set, so that
TensorFlow's GCS client needs no credentials and finds the emulator. The
namespace has no interface but loopback: no request can leave it.

Exits with COMMAND's status.
"""
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
from typing import List, Optional

import gcs_emulator

BUCKET = 'cvrl-test'
# Set in COMMAND's environment: the proxy's JSON-lines log of requests.
REQUEST_LOG_ENV = 'CVRL_GCS_REQUEST_LOG'
# Set in COMMAND's environment: the emulator's own HOST:PORT.
EMULATOR_ENV = 'CVRL_GCS_EMULATOR'

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def unavailable_reason() -> Optional[str]:
  """Why private network namespaces cannot be made here, or None."""
  if not shutil.which('unshare'):
    return 'the unshare command (util-linux) is not installed'
  try:
    probe = subprocess.run(['unshare', '--mount', '--net', 'true'],
                           capture_output=True, text=True, timeout=60)
  except (OSError, subprocess.TimeoutExpired) as e:
    return f'unshare --mount --net failed: {e}'
  if probe.returncode != 0:
    return ('unshare --mount --net failed (needs root or CAP_SYS_ADMIN): '
            f'{probe.stderr.strip()}')
  return None


def command_in_namespace(work_dir: str, command: List[str]) -> List[str]:
  """The command line running `command` in a namespace with gs://."""
  return ['unshare', '--mount', '--net', '--', sys.executable,
          os.path.abspath(__file__), work_dir, *command]


def bring_loopback_up() -> None:
  """`ip link set lo up`, without needing iproute2."""
  with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
    request = struct.pack('16sH', b'lo', 0)
    flags = struct.unpack('16sH', fcntl.ioctl(sock, _SIOCGIFFLAGS,
                                              request))[1]
    fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack('16sH', b'lo',
                                                 flags | _IFF_UP))


def resolve_to_loopback(work_dir: str, hosts) -> None:
  """Makes /etc/hosts, in this mount namespace only, map `hosts` locally."""
  path = os.path.join(work_dir, 'hosts')
  with open(path, 'w') as f:
    f.write('127.0.0.1 localhost\n')
    for host in hosts:
      f.write(f'127.0.0.1 {host}\n')
  # unshare --mount makes the new namespace's mounts private: the bind
  # mount is not seen outside.
  subprocess.run(['mount', '--bind', path, '/etc/hosts'], check=True)


def in_private_network() -> bool:
  """True if no network interface but loopback exists here."""
  return [name for _, name in socket.if_nameindex()] == ['lo']


def main(work_dir: str, command: List[str]) -> int:
  if not in_private_network():
    sys.exit('gcs_namespace: refusing to run outside a private network '
             'namespace (run it under unshare --net)')
  os.makedirs(work_dir, exist_ok=True)
  bring_loopback_up()
  resolve_to_loopback(work_dir, gcs_emulator.ALL_HOSTS)
  certificates = gcs_emulator.make_certificates(work_dir)
  log_path = os.path.join(work_dir, 'requests.jsonl')
  emulator = gcs_emulator.Emulator([BUCKET])
  proxy = gcs_emulator.TlsProxy(emulator, certificates, log_path)
  env = dict(os.environ, CURL_CA_BUNDLE=certificates['ca'],
             GOOGLE_AUTH_TOKEN_FOR_TESTING='test-token',
             **{REQUEST_LOG_ENV: log_path,
                EMULATOR_ENV: '%s:%d' % emulator.address})
  try:
    return subprocess.run(command, env=env, check=False).returncode
  finally:
    proxy.stop()
    emulator.stop()


if __name__ == '__main__':
  sys.exit(main(sys.argv[1], sys.argv[2:]))
