"""The whole background worker: the periodic jobs of every domain, and the delivery loop.

`grassroots worker` runs it alone, `grassroots serve` in the API's process. The jobs come from
the registry (`services.jobs.load_jobs`: each domain's `jobs` module and the shared ones); the
delivery loop and its senders from `notifications.worker`, which knows nothing of the jobs.
Beside the API on PostgreSQL its jobs run in a child process (services/job_process.py), unless
`GRASSROOTS_JOB_PROCESS` is off.
"""

from __future__ import annotations

import asyncio

from grassroots.settings import Settings
from notifications.worker import quiet_hours, run_delivery_loop, start_senders
from services import jobs
from services.job_process import JobProcess


async def run_worker(
    *, stop: asyncio.Event, settings: Settings, announce: bool, beside_api: bool = False
) -> None:
    """Periodic jobs until `stop` is set, and the delivery loop when a channel is set.

    `announce` logs the "no pushes" / "no SMS" notices; `grassroots serve` logged them at start.
    `beside_api` (`grassroots serve`) runs the jobs in the job process, off the API's loop; a
    worker alone has no requests to hold up and runs them itself.
    """
    router, sms = await start_senders(settings=settings, announce=announce)
    process = JobProcess(settings) if beside_api and JobProcess.usable(settings) else None
    tasks = [jobs.run_forever(stop=stop, poll_s=settings.worker_poll_s, process=process)]
    if router is not None or sms is not None:
        tasks.append(
            run_delivery_loop(
                stop=stop,
                sender=router,
                sms=sms,
                quiet=quiet_hours(settings),
                lease_s=settings.delivery_lease_s,
            )
        )
    try:
        await asyncio.gather(*tasks)
    finally:
        if process is not None:
            await process.close()
        if router is not None:
            await asyncio.to_thread(router.close)
