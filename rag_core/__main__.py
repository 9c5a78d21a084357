import sys

from rag_core.cli.main import main

sys.exit(main())
