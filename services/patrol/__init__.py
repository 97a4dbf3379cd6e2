"""Patrol: zones, checkpoints, shifts, rounds with their tracks, reports, alerts and jobs.

Modules (each imports only those above it):
- `rules`: the limits, messages and the rules decided here.
- `access`: who may read and manage zones and rounds (scope rules, `Access` objects).
- `geometry`: the zone shape cache and the index of live zones.
- `zones`: create, reshape, retire and import zones; the zones a user lists.
- `shifts`: checkpoints and shifts (assignments).
- `analysis`: a round judged from its sorted track; the track as GeoJSON.
- `alerting`: zone-exit and missed-checkpoint alerts.
- `points`: storing a round's batches of track points.
- `rounds`: start a round, visits, incidents, end it; the rounds a user lists.
- `reports`: supervisors' day report and live positions.
- `jobs`: the worker jobs (zone exits, shifts' missed checkpoints, retention).
- `demo`: the demo data set's patrol step.
"""
