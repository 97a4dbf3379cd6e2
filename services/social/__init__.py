"""Social work: clients, caseloads, visits, care groups, delegations and the six-ones tasks.

Modules (import the one you need; this package re-exports nothing):
- `access`: every scope rule of the domain (clients, teams, tasks, reports, care-group members)
- `cadence`: local dates and when a client's next visit falls due
- `clients`: registering, correcting and finding clients; identity numbers
- `caseloads`: assigning a case under the cap, delegations (委托帮教), a worker's caseload
- `closing`: closing and reopening a case (结案 / 重新开案) and its history
- `visits`: visits (走访) and their location check
- `care_groups`: care groups (关爱小组) of at-risk youth
- `sixones`: teams' six-ones tasks (六个一): calendar, stored completion, completing one
- `sixones_rules`: the pure six-ones calendar
- `reports`: supervisors' reports (caseloads, overdue visits, six-ones completion)
- `jobs`: worker jobs and reminder sources
- `messages`: the domain's problem codes and their texts
- `demo`: the demo data builder
"""
