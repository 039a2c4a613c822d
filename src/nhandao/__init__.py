"""nhandao: the humanitarian-reporting warehouse.

The data path, stage by stage (each a subpackage), as `pipeline` runs it for the DAGs:
`ingest` (files into `raw`) → dbt builds `audit` (`dbt`, `orchestration`) → `gate` (Great
Expectations decides per province) → `publish` (`audit` to `marts`) → `monitor` (completeness,
status page, alerts). `access` holds the roles and `nhandao query`; `sample` the sample data and
the demo. Shared by all: `submission_format`, `periods`, `reference` (the seeds), `text`,
`spreadsheet`, `slices`, `logins`, `warehouse` (connections, the embedded server) and `settings`.
"""
