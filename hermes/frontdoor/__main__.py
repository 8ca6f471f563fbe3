import sys

from hermes.frontdoor.server import main

sys.exit(main())
