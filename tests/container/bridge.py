"""A Unix-socket door into a container that has no network: ``bridge.py SOCKET PORT``.

Started by :mod:`tests.container.podman` under ``nsenter --net=/proc/<container pid>/ns/net``: this process
keeps the host's files but joins the container's network namespace, where only loopback exists. It accepts
connections on SOCKET (a file, so reachable from the host) and joins each to 127.0.0.1:PORT inside the
container. Nothing here can reach any other address: the namespace has no other interface.

Standard library only, and nothing imported from the project, so it starts in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _join(client: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        client.close()  # not listening yet: the caller sees a closed connection and tries again
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main(path: str, port: int) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path + ".part")
        server.listen(64)
        os.rename(path + ".part", path)  # the socket appears only once it listens: no race with the caller
        while True:
            client, _ = server.accept()
            threading.Thread(target=_join, args=(client, port), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
