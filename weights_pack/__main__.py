import os
import sys

from weights_pack.cli import INTERRUPTED, main

code = main()
if code == INTERRUPTED:
    # Ctrl-C landing inside a library's nested interpreter call leaves CPython set to kill itself with SIGINT
    # at exit (status -2, not 130). The partial zip is already removed, so flush and leave with 130 directly.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
