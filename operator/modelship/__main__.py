import sys

from modelship.cli import main

sys.exit(main())
