import sys

from llmdeploy.cli import main

sys.exit(main())
