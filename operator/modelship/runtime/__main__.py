import sys

from modelship.runtime.server import main

sys.exit(main())
