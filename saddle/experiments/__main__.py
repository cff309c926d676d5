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
cpu = sys.modules.get("saddle.kernels.cpu")  # (loaded only by commands that ran a kernel)
if cpu is not None and cpu.kernels_stuck():  # a kernel thread that never returns (a second Ctrl-C): exit without it
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(rc)
sys.exit(rc)
