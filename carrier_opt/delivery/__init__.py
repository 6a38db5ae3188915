"""What leaves the system: the Excel report and where it is stored, e-mail notifications,
and rate-plan changes pushed back to the carrier.

* ``report_data`` — the report's figures in cents, adding up exactly to the bill.
* ``workbook`` — the xlsxwriter workbook built from them.
* ``storage`` — a local folder or S3 for report files, and their row in
  ``OptimizationInstanceResultFile``.
* ``notify`` — success / error / warning / Go-No-Go messages, sent by SMTP or SES to the
  provider's recipients.
* ``rate_plan_updates`` — the Go/No-Go rule and the audited, batched, never-twice ``PUT``s.

Plain Python: the Dagster assets in ``carrier_opt.defs`` call these functions.
"""
