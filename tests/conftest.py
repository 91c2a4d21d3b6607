"""Suite-wide: a scheduler that finds a ready thread nothing woke fails loudly.

Outside the tests the drivers recover such a thread before they would report
a deadlock (:meth:`wasmloom.runtime.scheduler.Scheduler.rescan`); in the tests
it is a missed wake-up, a bug to see.
"""

from wasmloom.runtime import scheduler

scheduler._STRICT = True
