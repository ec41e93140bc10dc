import sys

from kerastricks.cli import main

sys.exit(main())
