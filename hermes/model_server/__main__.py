import sys

from hermes.model_server.server import main

sys.exit(main())
