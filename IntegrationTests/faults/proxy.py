"""A TCP proxy of ours that injects network faults between two of the system's processes
(a worker and its server, a server and Redis). All proxies share one asyncio loop on a thread.

Faults:
- `partition()` until `heal()`: nothing moves either way, and new connections are accepted but
  not forwarded. Bytes wait in the kernel's buffers, as TCP retransmits across a real partition,
  so a stream resumes intact when healed (or the peers give up on their own timeouts).
- `delay(ms)` until `heal()`: every chunk is held `ms` before it is passed on.
- `half_open()`: every open connection loses its far side (closed there) while the near side
  stays open and silent, as after a peer's host vanished; new connections work.
- `reset()`: every open connection is closed at once, both sides.
"""
import asyncio
import socket
import threading


class _Loop:
    """The one event loop thread all proxies run on."""
    _instance = None
    _lock = threading.Lock()

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="fault-proxies", daemon=True).start()

    @classmethod
    def shared(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Loop()
            return cls._instance

    def run(self, coroutine, timeout=10):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


class _Connection:
    def __init__(self, client_reader, client_writer):
        self.client_reader, self.client_writer = client_reader, client_writer
        self.upstream_reader = self.upstream_writer = None
        # Half-open: the far side is gone, the near side is kept open and never hears again.
        self.zombie = False


class FaultProxy:
    """Listens on a free loopback port (`port`) and forwards to `target_port` on loopback."""

    def __init__(self, target_port, name="proxy"):
        self.name = name
        self.target_port = target_port
        self._loop = _Loop.shared()
        self._connections = set()
        self._tasks = set()
        self._delay = 0.0
        self._flowing = None
        self._server = None
        self._loop.run(self._start())

    async def _start(self):
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    # Faults, called from any thread.

    def partition(self):
        self._loop.run(self._set(flowing=False))

    def delay(self, ms):
        self._loop.run(self._set(flowing=True, delay=ms / 1000))

    def heal(self):
        self._loop.run(self._set(flowing=True, delay=0.0))

    def half_open(self):
        self._loop.run(self._half_open())

    def reset(self):
        self._loop.run(self._reset())

    def close(self):
        self._loop.run(self._close())

    @property
    def open_connections(self):
        return self._loop.run(self._count())

    # On the loop.

    async def _count(self):
        return sum(1 for c in self._connections if not c.zombie)

    async def _set(self, flowing, delay=None):
        if delay is not None:
            self._delay = delay
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _half_open(self):
        for connection in list(self._connections):
            connection.zombie = True
            if connection.upstream_writer:
                _abort(connection.upstream_writer)

    async def _reset(self):
        for connection in list(self._connections):
            _abort(connection.client_writer)
            if connection.upstream_writer:
                _abort(connection.upstream_writer)
        self._connections.clear()

    async def _close(self):
        self._server.close()
        await self._reset()
        # Connections held by a partition wait on it: they end with the proxy.
        for task in list(self._tasks):
            task.cancel()

    async def _accept(self, client_reader, client_writer):
        connection = _Connection(client_reader, client_writer)
        self._connections.add(connection)
        self._tasks.add(asyncio.current_task())
        try:
            await self._flowing.wait()
            try:
                connection.upstream_reader, connection.upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                _abort(client_writer)
                return
            await asyncio.gather(
                self._pump(connection, client_reader, lambda: connection.upstream_writer, upstream=False),
                self._pump(connection, connection.upstream_reader, lambda: connection.client_writer, upstream=True))
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(asyncio.current_task())
            self._connections.discard(connection)
            if not connection.zombie:
                _abort(client_writer)
            if connection.upstream_writer:
                _abort(connection.upstream_writer)

    async def _pump(self, connection, reader, writer, upstream):
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                if connection.zombie:
                    if upstream:
                        break
                    continue  # the near side talks to no one
                await self._flowing.wait()
                if self._delay:
                    await asyncio.sleep(self._delay)
                if connection.zombie:
                    continue
                writer().write(data)
                await writer().drain()
        except (ConnectionError, OSError):
            pass
        if connection.zombie and not upstream:
            return
        # One side ended: end the other (a half-close is rare enough here to treat as a close).
        other = connection.client_writer if upstream else connection.upstream_writer
        if other and not connection.zombie:
            _abort(other)


def _abort(writer):
    """Closes at once (RST rather than FIN when data is unsent)."""
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()
    except (OSError, AttributeError):
        pass
