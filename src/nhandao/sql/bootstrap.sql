-- Schemas and the tables written outside dbt: raw (by the loader) and monitoring (by the gate
-- and the publisher). Idempotent: run before every load and build.

create schema if not exists raw;
create schema if not exists reference;
create schema if not exists staging;
create schema if not exists intermediate;
create schema if not exists audit;
create schema if not exists marts;
create schema if not exists monitoring;

-- One row per file the loader saw, loaded or rejected.
create table if not exists raw.submission_files (
    file_id bigint generated always as identity primary key,
    file_name text not null,
    sha256 text not null,
    size_bytes bigint not null,
    source_format text not null,
    status text not null check (status in ('loaded', 'rejected')),
    row_count integer not null default 0,
    rejected_row_count integer not null default 0,
    loaded_at timestamptz not null default now()
);
create unique index if not exists submission_files_loaded_sha256
    on raw.submission_files (sha256) where status = 'loaded';

-- The figures exactly as received (text), one row per figure; append-only. The loader adds
-- what it read them as: the resolved unit code, the parsed value and qualifier. file_id refers
-- to raw.submission_files; the loader writes both in one transaction, so the reference is not
-- checked row by row (a million-row file would pay for it a million times).
create table if not exists raw.submission_rows (
    file_id bigint not null,
    record_number bigint,
    row_number integer not null,
    reporting_unit_code text,
    reporting_unit_name text,
    period text,
    indicator_code text,
    value text,
    qualifier text,
    program_code text,
    note text
);

-- Every problem found in a file: whole-file (row_number null) or one row.
create table if not exists raw.rejections (
    rejection_id bigint generated always as identity primary key,
    file_id bigint not null references raw.submission_files (file_id),
    row_number integer,
    column_name text,
    value_seen text,
    reason_code text not null,
    message_vi text not null,
    message_en text not null
);

-- One row per gate run, and one per expectation evaluated in it.
create table if not exists monitoring.gate_runs (
    gate_run_id text primary key,
    started_at timestamptz not null default now(),
    success boolean not null,
    data_docs_path text
);
create table if not exists monitoring.gate_results (
    gate_run_id text not null references monitoring.gate_runs (gate_run_id),
    suite_name text not null,
    expectation_type text not null,
    column_name text,
    severity text not null,
    success boolean not null,
    observed_value text,
    unexpected_count bigint,
    notes text
);

-- One row per publication of the audit build to marts.
create table if not exists monitoring.publications (
    publication_id bigint generated always as identity primary key,
    gate_run_id text references monitoring.gate_runs (gate_run_id),
    published_at timestamptz not null default now(),
    tables text[] not null,
    row_counts bigint[] not null
);

-- Added with Excel forms, Vietnamese values and unit names (issue 3); idempotent for existing
-- warehouses.
alter table raw.submission_files add column if not exists submitting_unit_code text;
alter table raw.submission_files add column if not exists encoding text;
-- when the file landed (its modification time in the landing zone): timeliness is judged on it
alter table raw.submission_files add column if not exists submitted_at timestamptz;
-- figures (format v1, the Excel form) or targets (the level above's plan per unit and year)
alter table raw.submission_files add column if not exists submission_kind text not null
    default 'figures';
alter table raw.submission_rows drop constraint if exists submission_rows_pkey;
alter table raw.submission_rows drop constraint if exists submission_rows_file_id_fkey;
alter table raw.submission_rows add column if not exists record_number bigint;
drop index if exists raw.submission_rows_record;
-- file ids only grow, so a BRIN index finds a file's rows for almost no cost at load time
create index if not exists submission_rows_file_brin
    on raw.submission_rows using brin (file_id);
alter table raw.submission_rows add column if not exists sheet_name text;
alter table raw.submission_rows add column if not exists source_column text;
alter table raw.submission_rows add column if not exists resolved_unit_code text;
alter table raw.submission_rows add column if not exists parsed_value numeric;
alter table raw.submission_rows add column if not exists parsed_qualifier text;
alter table raw.rejections add column if not exists sheet_name text;
alter table raw.rejections add column if not exists source_column text;

-- Write–audit–publish per province (issue 5): what each gate run checked and held back, which
-- slice each result is about, and what each publication published and kept back.
alter table monitoring.gate_runs add column if not exists report_path text;
alter table monitoring.gate_runs add column if not exists provinces_checked text[];
alter table monitoring.gate_runs add column if not exists provinces_held_back text[];
alter table monitoring.gate_runs add column if not exists global_failure boolean;
alter table monitoring.gate_results add column if not exists province_code text;
alter table monitoring.publications add column if not exists provinces_published text[];
alter table monitoring.publications add column if not exists provinces_held_back text[];

-- What each gate run knew of each province slice it judged (issue 7): a fingerprint of the
-- slice's rows and suite, and, when an earlier run's judgement of the same slice was taken
-- over instead of validating again, that run (null: validated in this run).
create table if not exists monitoring.gate_slices (
    gate_run_id text not null references monitoring.gate_runs (gate_run_id),
    suite_name text not null,
    province_code text not null,
    fingerprint text not null,
    validated_in text
);
create index if not exists gate_slices_by_suite
    on monitoring.gate_slices (suite_name, province_code);
alter table monitoring.gate_results add column if not exists validated_in text;
-- A province's slice of a table published by year is judged year by year (issue 7): the year, or
-- null for a slice of all the province's rows.
alter table monitoring.gate_slices add column if not exists year integer;
alter table monitoring.gate_results add column if not exists year integer;

-- The monitor (DAG monitor_reporting, issue 5): one snapshot per run, with completeness per
-- province and period, the late and missing reports of recent periods, and each province's
-- state (last load, last publication, last gate result, held back or not).
create table if not exists monitoring.snapshots (
    snapshot_id bigint generated always as identity primary key,
    taken_at timestamptz not null default now(),
    trigger text not null
);
create table if not exists monitoring.completeness (
    snapshot_id bigint not null references monitoring.snapshots (snapshot_id),
    province_code text not null,
    period_code text not null,
    due_date date,
    expected integer not null,
    received integer not null,
    on_time integer not null,
    late integer not null,
    missing integer not null
);
create table if not exists monitoring.overdue_reports (
    snapshot_id bigint not null references monitoring.snapshots (snapshot_id),
    province_code text not null,
    period_code text not null,
    admin_unit_code text not null,
    admin_unit_name text,
    due_date date,
    status text not null check (status in ('late', 'missing')),
    days_overdue integer
);
create table if not exists monitoring.province_status (
    snapshot_id bigint not null references monitoring.snapshots (snapshot_id),
    province_code text not null,
    province_name text,
    last_loaded_at timestamptz,
    last_published_at timestamptz,
    last_gate_run_id text,
    last_gate_at timestamptz,
    held_back boolean not null default false,
    held_back_since timestamptz,
    blocking_rules text[],
    warnings integer,
    current_period text,
    current_expected integer,
    current_received integer,
    current_on_time integer
);

-- Every alert sent (or attempted), per channel: late-province alerts are sent once per
-- province, period and day (dedup_key); a failed delivery is kept with its error.
create table if not exists monitoring.alerts (
    alert_id bigint generated always as identity primary key,
    kind text not null,
    province_code text,
    dedup_key text not null,
    subject text not null,
    channel text not null,
    sent_at timestamptz not null default now(),
    ok boolean not null,
    error text
);
create index if not exists alerts_dedup_key on monitoring.alerts (dedup_key, channel) where ok;

-- Narrative reports (issue 6): figures read out of a report's text (.txt, .md, .docx) wait for a
-- person's review before they count. One row per figure the extractor read, with the reporting
-- unit and period the file's name gave (<unit code>-<period>-<anything>.docx) and where in the
-- text it was read; the file itself is a raw.submission_files row (source_format and
-- submission_kind 'narrative'), written in the same transaction.
create table if not exists raw.narrative_figures (
    file_id bigint not null references raw.submission_files (file_id),
    figure_number integer not null,
    reporting_unit_code text not null,
    period text not null,
    program_code text not null default 'general',
    indicator_code text not null,
    value numeric not null,
    qualifier text not null check (qualifier in ('exact', 'lower_bound', 'approximate')),
    text text not null,
    sentence text not null,
    start_offset integer not null,
    end_offset integer not null,
    unit_mention text,
    period_mention text,
    primary key (file_id, figure_number)
);
-- Review decisions, append-only: the latest decision on a figure (highest review_id) is the one
-- that holds, so a decision can be changed and every earlier one is kept. A figure with no
-- decision needs review and never reaches the facts.
create table if not exists raw.narrative_reviews (
    review_id bigint generated always as identity primary key,
    file_id bigint not null,
    figure_number integer not null,
    decision text not null check (decision in ('accepted', 'rejected')),
    reviewed_by text not null default current_user,
    reviewed_at timestamptz not null default now(),
    note text,
    foreign key (file_id, figure_number) references raw.narrative_figures (file_id, figure_number)
);
create index if not exists narrative_reviews_figure
    on raw.narrative_reviews (file_id, figure_number, review_id);

-- Who did it: the loader and the gate run as their own roles, never as the admin (issue 5).
alter table raw.submission_files add column if not exists loaded_by text default current_user;
alter table monitoring.gate_runs add column if not exists run_by text default current_user;
alter table monitoring.publications add column if not exists published_by text
    default current_user;

-- What is published of each province's year of a table published by year (issue 7): a
-- fingerprint of its rows, so the next publication rewrites only the years that changed.
create table if not exists monitoring.published_parts (
    table_name text not null,
    province_code text not null,
    year integer not null,
    fingerprint text not null,
    published_at timestamptz not null default now(),
    primary key (table_name, province_code, year)
);

-- The reports (unit|period, e.g. 20242|2024M03) a loaded file of figures carries (issue 17):
-- the loader finds the earlier versions of what a file resends through them, to say what the
-- new version changes, keeps or withdraws. Files loaded before the column existed get it here.
alter table raw.submission_files add column if not exists unit_periods text[];
create index if not exists submission_files_unit_periods
    on raw.submission_files using gin (unit_periods) where status = 'loaded';
update raw.submission_files as files
set unit_periods = carried.unit_periods
from (
    select
        file_id,
        array_agg(distinct coalesce(resolved_unit_code, reporting_unit_code) || '|' || period)
            as unit_periods
    from raw.submission_rows
    where file_id = any(array(
        select file_id from raw.submission_files
        where unit_periods is null and status = 'loaded' and submission_kind <> 'narrative'
    ))
    group by file_id
) as carried
where files.file_id = carried.file_id;
