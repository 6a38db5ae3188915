"""The tags carrier_opt puts on the runs it requests (the sensor, the daily sync schedule).

In a module of their own so that the assets can read them (a last-day hourly run always syncs)
without importing the sensors, which import the jobs, which import the assets.
"""

TRIGGER_TAG = "carrier_opt/trigger"
LOCAL_DATE_TAG = "carrier_opt/local_date"
LOCAL_HOUR_TAG = "carrier_opt/local_hour"
DAILY_TRIGGER = "billing_window_daily"
HOURLY_TRIGGER = "billing_window_last_day_hourly"
DAILY_SYNC_TRIGGER = "daily_sync"
PROVIDER_TAG = "dagster/partition/service_provider"
"""The tag Dagster gives a run from its partition key, which the run queue limits to one run
per value (``dagster.yaml``)."""
