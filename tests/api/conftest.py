"""Fixtures of the API tests that run a real HTTP server."""

from __future__ import annotations

import socket

import pytest

from tests.fakes import bound_socket, port_of


@pytest.fixture
def listening() -> socket.socket:
    """The API's socket, bound first: its port goes into the settings (public URL)."""
    return bound_socket()


@pytest.fixture
def port(listening: socket.socket) -> int:
    return port_of(listening)
