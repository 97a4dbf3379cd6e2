"""Community correction: supervisions, check-ins, leave, compliance, assessments and their jobs.

Modules (import the one you need; this package re-exports nothing):
- `rules`: the pure calendar of obligations by supervision level and the intervals they are
  judged in.
- `area`: the permitted area of a supervision (a patrol Zone), parsed and cached for check-ins.
- `access`: every scope rule and `Access` object of the domain.
- `messages`: the domain's problem messages.
- `dates`: local days and months.
- `levels`: an office's rule set, what a level implies and the level in force.
- `supervisions`: placing a subject under supervision, changing the level, ending it, finding it.
- `checkins`: a subject's check-ins and the officer's reports and home visits.
- `leave`: leave requests, decisions and withdrawals.
- `compliance`: a month judged interval by interval, its CSV, and the monthly assessment.
- `overview`: the officer's list of subjects with today's status.
- `jobs`: the worker's interval-closing job and the check-in reminder source.
- `demo`: demo subjects for `grassroots serve --demo`.
"""
