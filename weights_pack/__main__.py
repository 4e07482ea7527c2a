import sys

from weights_pack.cli import main

sys.exit(main())
