"""``python -m green.wsgi module:app --bind HOST:PORT`` (see `green.wsgi.main`)."""

import sys

from green.wsgi._command import main

sys.exit(main())
