"""One construct per concern: functions, inference access, state tables, config store, API, observability."""
