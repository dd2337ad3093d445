"""The kernel client's message wait that the notebooks run under (conftest.py's polling ``get_msg``): it returns
messages, keeps its timeout, and reads a message whose wake-up was missed (jupyter/nbclient#312)."""
from __future__ import annotations

import asyncio
import time
from queue import Empty

import pytest

zmq = pytest.importorskip("zmq")
channels = pytest.importorskip("jupyter_client.channels")
import zmq.asyncio                                     # noqa: E402
from jupyter_client.session import Session            # noqa: E402

POLL_SLICE_S = getattr(channels.AsyncZMQSocketChannel.get_msg, "poll_slice_s", None)


def test_the_notebook_client_waits_with_the_polling_get_msg():
    assert POLL_SLICE_S is not None and 0 < POLL_SLICE_S <= 1


def test_get_msg_returns_a_real_message_and_keeps_its_timeout():
    async def run():
        ctx = zmq.asyncio.Context()
        tx, rx = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        try:
            tx.bind("inproc://styletalker-get-msg")
            rx.connect("inproc://styletalker-get-msg")
            session = Session(key=b"")
            ch = channels.AsyncZMQSocketChannel(rx, session)
            t0 = time.monotonic()
            with pytest.raises(Empty):
                await ch.get_msg(timeout=0.3)
            waited = time.monotonic() - t0
            session.send(tx, "execute_reply", {"status": "ok"})      # an asyncio socket sends at once
            msg = await ch.get_msg(timeout=5)
            return waited, msg
        finally:
            tx.close(linger=0)
            rx.close(linger=0)
            ctx.term()

    waited, msg = asyncio.run(run())
    assert 0.25 <= waited < 0.3 + POLL_SLICE_S
    assert msg["msg_type"] == "execute_reply" and msg["content"] == {"status": "ok"}


class MissedWakeUpSocket:
    """A socket whose blocking poll is never woken (the race), while a zero-timeout poll sees the message."""

    def __init__(self, pending: list):
        self.pending = pending

    async def poll(self, timeout_ms=None):
        if timeout_ms:
            await asyncio.sleep(timeout_ms / 1000)
            return 0
        return int(bool(self.pending))


def test_get_msg_reads_a_message_whose_wake_up_was_missed_within_a_slice():
    sock = MissedWakeUpSocket([{"msg_type": "execute_reply"}])
    ch = channels.AsyncZMQSocketChannel.__new__(channels.AsyncZMQSocketChannel)
    ch.socket = sock

    async def recv():
        return sock.pending.pop(0)

    ch._recv = recv

    async def run():
        t0 = time.monotonic()
        msg = await ch.get_msg(timeout=30)        # one long poll would sleep through all 30 s and raise Empty
        return msg, time.monotonic() - t0

    msg, took = asyncio.run(run())
    assert msg == {"msg_type": "execute_reply"}
    assert took < POLL_SLICE_S + 0.5
