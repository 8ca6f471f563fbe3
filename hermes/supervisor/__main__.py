import sys

from hermes.supervisor.main import main

sys.exit(main())
