"""Test-session setup shared by `tests/` and the notebooks that nbmake runs (pytest loads this file first).

A missed wake-up in the asyncio kernel client. nbmake runs each notebook through nbclient, which waits for every
cell's reply with one long ``await socket.poll(timeout)`` on the kernel's shell channel
(``jupyter_client.channels.AsyncZMQSocketChannel.get_msg``). Rarely, that wait is not woken although the reply has
arrived. Then the cell fails after nbmake's 300 s cell timeout with the kernel idle: see jupyter/nbclient#312,
which reports it for cells that display ipywidgets. We saw it once in `.ci/run`, after notebook 01's widget cell:
client and kernel were both idle, and any later message on the socket unblocked the client.

``_install_polling_get_msg`` replaces that one wait with waits of at most a second. Each is followed by a
non-blocking check, so a reply whose wake-up was missed is read within a second. The timeout and the messages
returned stay the same (tests/test_notebook_client.py).
"""
from __future__ import annotations

import time
from queue import Empty

POLL_SLICE_S = 1.0


def _install_polling_get_msg() -> None:
    try:
        from jupyter_client.channels import AsyncZMQSocketChannel
    except ImportError:                                   # no notebook stack installed: nothing to patch
        return
    if hasattr(AsyncZMQSocketChannel.get_msg, "poll_slice_s"):      # installed already
        return

    async def get_msg(self, timeout: float | None = None) -> dict:
        """The next message, waiting at most ``timeout`` seconds (None: forever); raises queue.Empty."""
        assert self.socket is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = POLL_SLICE_S if left is None else min(POLL_SLICE_S, left)
            # a waited poll, then a zero-timeout one, which asks zmq directly and needs no wake-up
            ready = await self.socket.poll(int(step * 1000)) or await self.socket.poll(0)
            if ready:
                return await self._recv()
            if left is not None and left <= step:
                raise Empty

    get_msg.poll_slice_s = POLL_SLICE_S                             # also marks the patch as installed
    AsyncZMQSocketChannel.get_msg = get_msg


_install_polling_get_msg()
