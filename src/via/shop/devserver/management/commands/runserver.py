"""Django's runserver with TCP_NODELAY on every connection.

Django's development server writes a response's headers and body in separate writes; on a
kept-alive connection Nagle's algorithm then holds the body until the client acknowledges the
headers, and clients delay that acknowledgement by about 40 ms. Measured on the home page with
one connection: 44 ms per request before, about 2.5 ms after (docs/shop-benchmarks.md)."""

import socket

from django.contrib.staticfiles.management.commands.runserver import Command as StaticRunserver
from django.core.servers.basehttp import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class Command(StaticRunserver):
    server_cls = NoDelayWSGIServer
