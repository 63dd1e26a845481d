"""A GCS emulator that TensorFlow's own GCS client can talk to, over TLS.

TensorFlow's GCS filesystem always calls `https://www.googleapis.com` (JSON
API: metadata, listing, uploads, rewrite, delete) and
`https://storage.googleapis.com` (ranged reads of `/<bucket>/<object>`). Run
inside a private network namespace whose hosts file resolves both names to
127.0.0.1 (`gcs_namespace.py`), `serve` answers them with:

  * `gcp-storage-emulator` (PyPI), a plain-HTTP, single-threaded server on a
    loopback port, holding the objects in memory;
  * `TlsProxy` in front of it on port 443, with a certificate of a CA made
    here (`make_certificates`), which TensorFlow trusts via CURL_CA_BUNDLE.

The proxy also works around what of the emulator does not match GCS; each
workaround says why next to its code. Every request is logged, so tests can
tell which endpoints TensorFlow used and which the emulator lacked.
"""
import datetime
import http.client
import http.server
import ipaddress
import json
import os
import re
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse
from typing import Dict, List, Sequence, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator import storage as emulator_storage
from gcp_storage_emulator.handlers import buckets as emulator_buckets

# The hosts TensorFlow's client calls, and those it might call for
# credentials or zone lookups: all resolved to the proxy, so that any
# request for them is served (or refused) here and logged.
GCS_HOSTS = ('www.googleapis.com', 'storage.googleapis.com')
OTHER_GOOGLE_HOSTS = ('oauth2.googleapis.com', 'metadata.google.internal',
                      'metadata')
ALL_HOSTS = GCS_HOSTS + OTHER_GOOGLE_HOSTS

# The first upload PUT of an object whose name holds this is answered 503.
FAIL_FIRST_PUT = 'fail-first-put'

# The methods of the requests that may change an object.
_WRITE_METHODS = frozenset(['POST', 'PUT', 'PATCH', 'DELETE'])

# Hop-by-hop headers, which the proxy does not relay.
_HOP_HEADERS = frozenset(['connection', 'keep-alive', 'proxy-connection',
                          'transfer-encoding', 'expect', 'upgrade', 'te',
                          'content-length'])


def make_certificates(directory: str,
                      hosts: Sequence[str] = ALL_HOSTS) -> Dict[str, str]:
  """Writes a CA and a server certificate for `hosts` signed by it.

  Returns:
    {'ca': CA certificate (the CURL_CA_BUNDLE), 'cert': server certificate
    chain, 'key': server key} paths, all PEM.
  """
  now = datetime.datetime.now(datetime.timezone.utc)
  valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=7))
  ca_key = ec.generate_private_key(ec.SECP256R1())
  ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                          'cvrl_tf test CA')])
  ca_cert = (x509.CertificateBuilder()
             .subject_name(ca_name).issuer_name(ca_name)
             .public_key(ca_key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(valid[0]).not_valid_after(valid[1])
             .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                            critical=True)
             .add_extension(x509.KeyUsage(
                 digital_signature=True, key_cert_sign=True, crl_sign=True,
                 content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                 ca_key.public_key()), critical=False)
             .sign(ca_key, hashes.SHA256()))
  key = ec.generate_private_key(ec.SECP256R1())
  names = [x509.DNSName(host) for host in hosts]
  names.append(x509.IPAddress(ipaddress.ip_address('127.0.0.1')))
  cert = (x509.CertificateBuilder()
          .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                      hosts[0])]))
          .issuer_name(ca_name).public_key(key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(valid[0]).not_valid_after(valid[1])
          .add_extension(x509.SubjectAlternativeName(names), critical=False)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                         critical=True)
          .add_extension(x509.ExtendedKeyUsage(
              [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
              ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
  paths = {name: os.path.join(directory, f'{name}.pem')
           for name in ('ca', 'cert', 'key')}
  pem = serialization.Encoding.PEM
  with open(paths['ca'], 'wb') as f:
    f.write(ca_cert.public_bytes(pem))
  with open(paths['cert'], 'wb') as f:
    f.write(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
  with open(paths['key'], 'wb') as f:
    f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
  return paths


def _free_port(host: str) -> int:
  with socket.socket() as sock:
    sock.bind((host, 0))
    return sock.getsockname()[1]


class Emulator:
  """`gcp-storage-emulator` on a loopback port, objects in memory."""

  def __init__(self, buckets: Sequence[str], host: str = '127.0.0.1'):
    # In memory; the emulator still wants an absolute data_dir, unused.
    self.storage = emulator_storage.Storage(use_memory_fs=True,
                                            data_dir='/nonexistent')
    for bucket in buckets:
      emulator_buckets.create_bucket(bucket, self.storage)
    self.address = (host, _free_port(host))
    self._thread = emulator_server.APIThread(*self.address, self.storage,
                                             daemon=True)
    self._thread.start()
    self._thread.is_running.wait()

  def stop(self) -> None:
    self._thread.join()


_UPLOAD_ID = re.compile(r'[?&]upload_id=([^&]+)')


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
  """Relays one request at a time to the emulator, fixing its answers."""

  # Keep-alive, as TensorFlow's libcurl expects; it also answers
  # `Expect: 100-continue`.
  protocol_version = 'HTTP/1.1'
  server: '_ProxyServer'

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    del format, args  # Requests are logged as JSON lines instead.

  def _read_body(self) -> bytes:
    if self.headers.get('Transfer-Encoding', '').lower() == 'chunked':
      chunks = []
      while True:
        size = int(self.rfile.readline().split(b';')[0].strip() or b'0', 16)
        if size == 0:
          while self.rfile.readline() not in (b'\r\n', b'\n', b''):
            pass
          return b''.join(chunks)
        chunks.append(self.rfile.read(size))
        self.rfile.readline()
    return self.rfile.read(int(self.headers.get('Content-Length') or 0))

  def _relay(self) -> None:
    body = self._read_body()
    headers = {name: value for name, value in self.headers.items()
               if name.lower() not in _HOP_HEADERS}
    # The emulator is single-threaded and its storage is not thread-safe:
    # one request at a time.
    started = time.monotonic()
    with self.server.lock:
      waited = time.monotonic() - started
      if self._fails_on_purpose(body):
        status, reason, response_headers, content = (
            503, 'Failed on purpose', [], b'')
      elif self._is_empty_media_upload(body):
        status, reason, response_headers, content = self._upload_empty(
            headers)
      else:
        status, reason, response_headers, content = self._forward(
            self.command, self.path, body, headers)
      response_headers = self._fix_headers(status, response_headers)
    split = urllib.parse.urlsplit(self.path)
    self.server.log_request_line({
        'scheme': self.server.scheme, 'method': self.command,
        'host': self.headers.get('Host', ''), 'path': split.path,
        'query': split.query, 'request_bytes': len(body), 'status': status,
        'range': self.headers.get('Range'),
        'content_range': self.headers.get('Content-Range'),
        'start': started, 'waited': round(waited, 4),
        'seconds': round(time.monotonic() - started, 4)})
    self.send_response(status, reason)
    for name, value in response_headers:
      self.send_header(name, value)
    self.send_header('Content-Length', str(len(content)))
    self.end_headers()
    if self.command != 'HEAD':
      self.wfile.write(content)

  def _forward(self, method, path, body, headers):
    """Sends one request to the emulator; returns its answer."""
    headers = dict(headers, **{'Content-Length': str(len(body))})
    # A connection per request: the emulator speaks HTTP/1.0 and closes
    # after every answer.
    connection = http.client.HTTPConnection(*self.server.emulator.address,
                                            timeout=60)
    try:
      connection.request(method, path, body=body, headers=headers)
      response = connection.getresponse()
      return (response.status, response.reason,
              [(name, value) for name, value in response.getheaders()
               if name.lower() not in _HOP_HEADERS], response.read())
    except (http.client.HTTPException, OSError) as e:
      # The emulator raised inside a handler and dropped the connection.
      return 500, 'Emulator error', [], f'emulator failed: {e!r}'.encode()
    finally:
      connection.close()

  def _fails_on_purpose(self, body: bytes) -> bool:
    """True for the first upload PUT of an object named to fail once.

    Lets a test check how the client resumes an upload after a failure.
    """
    if self.command != 'PUT' or not body:
      return False
    name = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get(
        'name', [''])[0]
    if FAIL_FIRST_PUT not in name or name in self.server.failed_once:
      return False
    self.server.failed_once.add(name)
    return True

  def _is_empty_media_upload(self, body: bytes) -> bool:
    split = urllib.parse.urlsplit(self.path)
    return (self.command == 'POST' and not body and
            split.path.startswith('/upload/') and
            'media' in urllib.parse.parse_qs(split.query).get('uploadType', []))

  def _upload_empty(self, headers):
    """Uploads an empty object through a resumable session.

    TensorFlow creates a directory `a/b` as an empty object `a/b/` with a
    simple media upload; on an empty body the emulator's media upload
    raises (len(None)) and drops the connection. Its resumable upload
    handles an empty object, so the proxy turns the request into one.
    """
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
    session = urllib.parse.urlsplit(self.path)._replace(
        query=urllib.parse.urlencode({'uploadType': 'resumable',
                                      'name': query['name'][0]})).geturl()
    status, reason, response_headers, content = self._forward(
        'POST', session, b'', headers)
    location = dict((name.lower(), value) for name, value in
                    response_headers).get('location')
    if status != 200 or not location:
      return status, reason, response_headers, content
    upload = urllib.parse.urlsplit(location)
    return self._forward('PUT', f'{upload.path}?{upload.query}', b'',
                         dict(headers, **{'Content-Range': 'bytes */0'}))

  def _fix_headers(self, status, headers):
    """Makes the emulator's response headers what GCS sends."""
    fixed = []
    for name, value in headers:
      if name.lower() == 'location' and value.startswith('http://'):
        # The emulator builds a resumable upload's session URI from the
        # Host header as `http://<Host>/...`; TensorFlow would PUT the
        # object to port 80 in plain text. GCS answers `https://`.
        value = 'https://' + value[len('http://'):]
      if (status == 308 and name.lower() == 'range' and
          value == 'bytes=0-0' and self._upload_bytes_received() == 0):
        # With no byte of an upload received, the emulator still answers a
        # status query with `Range: bytes=0-0`, which a client reads as
        # "byte 0 received" and resumes from byte 1, losing the first byte.
        # GCS sends no Range header then.
        continue
      fixed.append((name, value))
    return fixed

  def _upload_bytes_received(self) -> int:
    match = _UPLOAD_ID.search(self.path)
    if not match:
      return -1
    return self.server.emulator.storage.get_resumable_byte_count(
        urllib.parse.unquote_plus(match.group(1)))

  do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay


class _ProxyServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
  daemon_threads = True
  allow_reuse_address = True

  def __init__(self, address, emulator: Emulator, scheme: str,
               log_path: str, lock: threading.Lock):
    super().__init__(address, _ProxyHandler)
    self.emulator = emulator
    self.scheme = scheme
    self.lock = lock
    self.failed_once = set()
    self._log_path = log_path

  def log_request_line(self, entry: dict) -> None:
    with open(self._log_path, 'a') as f:
      f.write(json.dumps(entry) + '\n')


class TlsProxy:
  """Serves the emulator on 443 over TLS, and on 80 in plain text.

  Nothing should arrive on port 80: it listens so that a request a client
  sends there is logged (with scheme 'http') rather than refused unseen.
  """

  def __init__(self, emulator: Emulator, certificates: Dict[str, str],
               log_path: str, host: str = '127.0.0.1', https_port: int = 443,
               http_port: int = 80):
    lock = threading.Lock()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates['cert'], certificates['key'])
    self._servers = [
        _ProxyServer((host, https_port), emulator, 'https', log_path, lock),
        _ProxyServer((host, http_port), emulator, 'http', log_path, lock)]
    self._servers[0].socket = context.wrap_socket(self._servers[0].socket,
                                                  server_side=True)
    self._threads = [threading.Thread(target=s.serve_forever, daemon=True)
                     for s in self._servers]
    for thread in self._threads:
      thread.start()

  def stop(self) -> None:
    for server in self._servers:
      server.shutdown()
      server.server_close()


def read_request_log(log_path: str) -> List[dict]:
  """The requests the proxy relayed, in order."""
  if not os.path.exists(log_path):
    return []
  with open(log_path) as f:
    return [json.loads(line) for line in f]


def writes_logged_since(log_path: str, offset: int) -> Tuple[bool, int]:
  """Whether a request that may change an object was logged after `offset`.

  Lets a reader look at the bucket only when it may have changed.

  Returns:
    That, and the offset (bytes) of the log's end up to its last whole line.
  """
  if not os.path.exists(log_path):
    return False, offset
  with open(log_path, 'rb') as f:
    f.seek(offset)
    new = f.read()
  new = new[:new.rfind(b'\n') + 1]
  changed = any(json.loads(line)['method'] in _WRITE_METHODS
                for line in new.splitlines())
  return changed, offset + len(new)
