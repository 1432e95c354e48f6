"""`python -m via.shop runserver` (what make run starts) sets TCP_NODELAY on its connections."""

import socket

from django.core.management import get_commands
from django.core.servers.basehttp import WSGIRequestHandler

from via.shop.devserver.management.commands.runserver import NoDelayWSGIServer


def test_runserver_is_the_no_delay_one():
    assert get_commands()["runserver"] == "via.shop.devserver"


def test_accepted_connections_have_tcp_nodelay():
    server = NoDelayWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    try:
        client = socket.create_connection(server.server_address, timeout=5)
        connection, _ = server.get_request()
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        connection.close()
        client.close()
    finally:
        server.server_close()
