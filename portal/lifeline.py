"""Child processes that end when the process that started them dies.

`aiportal up` starts the hub, the S3 server and Podman's API service in sessions of their
own (a Ctrl-C in the terminal reaches only the launcher, which stops them in order), and
the hub starts the proxy and the portal service the same way. A parent killed outright
(SIGKILL, the OOM killer) runs no clean-up, and such children would live on. The kernel's
parent-death signal (``prctl(PR_SET_PDEATHSIG)``) covers that without polling: it is
delivered when the parent dies, however it dies, and it survives ``exec``, so it also
holds for programs we do not write (``weed``, ``node``, ``podman``). The hub, told by it
to stop, stops its proxy and service as on any SIGTERM; they carry the signal too, in
case the hub itself is killed outright.

The signal is tied to the *thread* that forked the child: start such children from a
thread that lives as long as they should (the launcher's main thread).

``python -m portal.lifeline COMMAND …`` runs COMMAND with the signal set (for the proxy,
which the hub starts from its own configuration).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: no dlopen after fork


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies.

    ``parent``: the pid the parent had; if it is already gone (the process was
    re-parented before this call), ``sig`` is sent at once.
    """
    if _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)


def tied_to_this_thread(sig: int = signal.SIGTERM):
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process
    (strictly: the calling thread) dies."""
    parent = os.getpid()

    def preexec() -> None:
        die_with_parent(sig, parent)

    return preexec


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m portal.lifeline COMMAND [ARG …]")
    parent = os.getppid()
    if parent > 1:  # not when run as a container's first process
        die_with_parent(signal.SIGTERM, parent)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
