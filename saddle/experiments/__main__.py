import sys

try:
    from saddle.experiments.cli import main
except KeyboardInterrupt:  # Ctrl-C while the modules load: the same line and status as at any other moment
    try:
        sys.stderr.write("interrupted before any trial finished; nothing was stored\n")
    except (OSError, ValueError, AttributeError):  # stderr closed or gone
        pass
    sys.exit(130)

sys.exit(main())
