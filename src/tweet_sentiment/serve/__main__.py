"""``python -m tweet_sentiment.serve``: see server.py."""

import sys

from tweet_sentiment.serve.server import main

sys.exit(main())
