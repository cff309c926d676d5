import sys

from saddle.experiments.cli import main

sys.exit(main())
