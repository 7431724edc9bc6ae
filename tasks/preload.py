"""What the extraction workers' forkserver imports before it forks them: extraction, warmed up.

multiprocessing's forkserver imports the modules named in its preload list and nothing else, so the
warm-up runs as this module's import. Every worker then forks with trafilatura, lxml, the language model,
the stoplists and dateparser's locales already loaded, and shares those pages with the server and the
other workers instead of loading its own copy (tasks.extract.warm_up_worker).
"""

from __future__ import annotations

import gc

from newsdag.tasks.extract import warm_up_worker
from newsdag.tasks.extract_pool import exit_with_parent

exit_with_parent()  # the forkserver ends with the ingest process that started it
warm_up_worker()
# Frozen, the loaded objects are never walked by a worker's garbage collections, which would write to
# their headers and so copy the shared pages into the worker.
gc.freeze()
