"""Imported by every Python process the suite starts (PYTHONPATH): follow the suite's clock.

Child processes start later than the suite did, so they take the suite's offset, not its instant.
"""

import os

_offset = os.environ.get("GRASSROOTS_TEST_CLOCK_OFFSET_S")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
