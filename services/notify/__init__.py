"""Filling inboxes: the jobs that turn alerts, notices and unconfirmed reminders into deliveries.

`jobs` (automatic notices from every `services.notices` source, and alerts) and `urgent` (what
also goes by SMS: leave decisions, and the SMS fallback of unconfirmed reminders) register their
worker jobs on import; `notifications` below them stores and sends, knowing nothing of these.
"""
