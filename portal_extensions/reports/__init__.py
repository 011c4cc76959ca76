"""Reports: volumes, timeliness and the six-monthly scrutiny report, free of HTTP.

* `service`: `Reports`, each viewer's figures through the access policy; `Report`,
  `ScrutinyReport`; who sees what.
* `filters`: the period and filters asked for, refused field by field when unusable.
* `figures`: volume, trend and timeliness tables from the store's rows (working days,
  nearest-rank percentiles).
* `tables`: `Table`, the one shape every figure takes; `suppression`: small counts withheld
  in a published report, with secondary suppression.
* `charts`: server-side SVG (pygal); `exports`: CSV and XLSX, formula injection neutralised;
  `document`: the printable HTML report and its PDF (WeasyPrint).

The SQL is in `portal_extensions.store.reports`.
"""
