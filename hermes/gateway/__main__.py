import sys

from hermes.gateway.server import main

sys.exit(main())
