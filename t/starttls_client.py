#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The poolev Authors
#
# starttls_client.py - interoperability of pubsubd's STARTTLS with Python's
# ssl module (t/check_pubsubd.c runs it): connect in plaintext, STARTTLS,
# wrap the socket with a default client context trusting CAFILE (so the
# certificate and the host name "localhost" are verified), then publish and
# subscribe through TLS. Also, with "implicit", the same on a TLS port.
#
# usage: starttls_client.py PORT CAFILE [implicit]
# Prints "ok" and exits 0, or prints what went wrong and exits 1.
import socket
import ssl
import sys


def fail(msg):
    print("starttls_client: " + msg)
    sys.exit(1)


class Lines:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                fail("end of stream; had %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode()

    def ask(self, cmd, want_prefix):
        self.sock.sendall(cmd.encode() + b"\r\n")
        got = self.line()
        if not got.startswith(want_prefix):
            fail("%s: got %r, wanted %r..." % (cmd, got, want_prefix))
        return got


def main():
    if len(sys.argv) < 3:
        fail("usage: starttls_client.py PORT CAFILE [implicit]")
    port, cafile = int(sys.argv[1]), sys.argv[2]
    implicit = len(sys.argv) > 3 and sys.argv[3] == "implicit"
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    if implicit:
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        c = Lines(tls)
        if not c.line().startswith("+OK "):
            fail("no greeting over TLS")
    else:
        plain = Lines(raw)
        if not plain.line().startswith("+OK "):
            fail("no greeting")
        plain.ask("STARTTLS", "+OK")
        if plain.buf:
            fail("plaintext after the go-ahead: %r" % plain.buf)
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        c = Lines(tls)
    if tls.version() != "TLSv1.3" and tls.version() != "TLSv1.2":
        fail("version %s" % tls.version())
    c.ask("SUB news", "+OK subscribed to news")
    c.sock.sendall(b"PUB news hello through TLS\r\n")
    got = c.line()
    if got != "MSG news hello through TLS":
        fail("own message: got %r" % got)
    got = c.line()
    if got != "+OK delivered=1":
        fail("PUB reply: got %r" % got)
    if " tls=1" not in c.ask("STATS", "+OK "):
        fail("STATS does not say tls=1")
    c.ask("STARTTLS", "-ERR TLS is on already")
    c.ask("QUIT", "+OK bye")
    tls.close()
    print("ok")


main()
