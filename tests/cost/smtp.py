"""A tiny SMTP server for tests: 127.0.0.1, an ephemeral port, its own thread and event loop.

It speaks enough of RFC 5321 for `smtplib` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and keeps
every message it accepted. `fail_next(n)` answers the next n `MAIL` commands with a 451 (a transient
failure) so retries can be tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import Message


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    def message(self) -> Message:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class SmtpServer:
    messages: list[Received] = field(default_factory=list)
    port: int = 0
    _failures: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.Server | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def fail_next(self, count: int) -> None:
        self._failures = count

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} messages arrived, expected {count}")
            return list(self.messages)

    def __enter__(self) -> SmtpServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-smtp", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        sender, recipients = "", []
        try:
            await say("220 fake-smtp ready")
            while line := (await reader.readline()).decode().rstrip("\r\n"):
                verb = line[:4].upper()
                if verb == "EHLO":
                    await say("250-fake-smtp")
                    await say("250 8BITMIME")
                elif verb in ("HELO", "NOOP", "RSET"):
                    await say("250 OK")
                elif verb == "MAIL":
                    if self._failures > 0:
                        self._failures -= 1
                        await say("451 try again later")
                        continue
                    sender = line.split(":", 1)[1].strip().strip("<>")
                    await say("250 OK")
                elif verb == "RCPT":
                    recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                    await say("250 OK")
                elif verb == "DATA":
                    await say("354 end with .")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    with self._changed:
                        self.messages.append(Received(sender, recipients, data[:-5].replace(b"\r\n..", b"\r\n.")))
                        self._changed.notify_all()
                    sender, recipients = "", []
                    await say("250 queued")
                elif verb == "QUIT":
                    await say("221 bye")
                    break
                else:
                    await say("502 not implemented")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
