#!/usr/bin/env python3
"""A registry in front of a registry, for bench/faults.sh: passes every request
through to the real one, except blob GETs while a fault is set. The fault is the
first word of MODE_FILE, read on every request:

  pass    no fault
  reset   send half the blob, then reset the connection (RST)
  flip    send the whole blob with one byte flipped (a lying upstream)
  stall   send half the blob, then nothing until the fault is cleared, then close

Usage: faulty_upstream.py PORT UPSTREAM_HOST:PORT MODE_FILE
Listens on 127.0.0.1 only. Standard library only.
"""

import http.client
import http.server
import socket
import struct
import sys
import time

PORT, UPSTREAM, MODE_FILE = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# Headers passed on from the client to the registry, and back.
FORWARDED_REQUEST = ("accept", "authorization", "range")
FORWARDED_RESPONSE = ("content-type", "docker-content-digest", "location",
                      "www-authenticate", "link", "etag", "docker-distribution-api-version")
# Longest a stall lasts if nobody clears it (the proxy's upstream read timeout is 60 s).
MAX_STALL_SECS = 300


def mode():
    try:
        with open(MODE_FILE) as f:
            return (f.read().split() or ["pass"])[0]
    except FileNotFoundError:
        return "pass"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.forward(body=False)

    def do_GET(self):
        fault = mode()
        if fault != "pass" and "/blobs/sha256:" in self.path:
            self.faulty_blob(fault)
        else:
            self.forward(body=True)

    def fetch(self):
        conn = http.client.HTTPConnection(UPSTREAM, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED_REQUEST}
        conn.request(self.command, self.path, headers=headers)
        return conn, conn.getresponse()

    def forward(self, body):
        conn, r = self.fetch()
        data = r.read() if body else b""
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in FORWARDED_RESPONSE:
                self.send_header(k, v)
        length = r.getheader("content-length") if not body else str(len(data))
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if body:
            self.wfile.write(data)
        conn.close()

    def faulty_blob(self, fault):
        conn, r = self.fetch()
        data = r.read()
        conn.close()
        if r.status != 200:
            self.send_response(r.status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        half = len(data) // 2
        if fault == "flip":
            flipped = bytearray(data)
            flipped[half] ^= 0x01
            self.wfile.write(bytes(flipped))
            return
        self.wfile.write(data[:half])
        self.wfile.flush()
        if fault == "stall":
            deadline = time.monotonic() + MAX_STALL_SECS
            while mode() == "stall" and time.monotonic() < deadline:
                time.sleep(0.2)
        else:  # reset
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


Server(("127.0.0.1", PORT), Handler).serve_forever()
