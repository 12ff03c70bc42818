"""``python -m mixedad.profiler path/to/script.py:function``: see :mod:`mixedad.profiler.cli`."""
import sys

from .cli import main

sys.exit(main())
