import sys

try:
    from saddle.experiments.cli import main
except KeyboardInterrupt:  # Ctrl-C while the modules load: the same line and status as at any other moment
    try:
        sys.stderr.write("interrupted before any trial finished; nothing was stored\n")
    except (OSError, ValueError, AttributeError):  # stderr closed or gone
        pass
    sys.exit(130)

rc = main()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a stream closed or gone
            pass


import signal  # noqa: E402

# The command has finished and said everything: a Ctrl-C now (Python takes a second or so to shut down
# after a frontier) is ignored, so the exit status stays the command's. (A handler of our own would not
# do: Python puts SIGINT back to its default early in its shutdown, and the process then died silently
# with -2; an ignored signal it leaves ignored.)
signal.signal(signal.SIGINT, signal.SIG_IGN)
cpu = sys.modules.get("saddle.kernels.cpu")  # (loaded only by commands that ran a kernel)
if cpu is not None and cpu.kernels_stuck():  # a kernel thread that never returns (a second Ctrl-C): exit without it
    import os

    _flush()
    os._exit(rc)
sys.exit(rc)
