import sys

from ronn.cli import main

sys.exit(main())
