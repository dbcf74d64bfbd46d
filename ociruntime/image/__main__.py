"""`python -m ociruntime.image` runs the ocibundle CLI."""

import sys

from ociruntime.image.cli import main

sys.exit(main())
