{#- Incremental models: rebuild only what changed since a model was last built.

    raw is append-only, so every change to the figures arrives as something new in it: a loaded
    file (figures, targets, a narrative report) or a review decision on a narrative figure.
    int_submission_changes logs each one once, with every submission (reporting unit × period ×
    program) it touches and the year of that period, numbered with the build that logged it
    (`change_batch`, from the sequence intermediate.change_batches: it only grows, whatever the
    clock does and across full refreshes). A change of reference data (the dimensions, the
    seeded targets) is logged as a change of every submission, so it reaches every row.

    Each incremental model keeps in intermediate.incremental_progress how far through that log
    its rows are (`changed_through`: its parent's, when it was built, so a model rebuilt from a
    parent that is behind stays behind with it). Its next build takes the log entries after that,
    recomputes their groups WHOLE from its inputs (a submission for the figures, a unit's program
    and year for the year-to-date increments and totals, a year for the scorecard) and replaces
    them (strategy `replace_changed`): the rows of a group are deleted, then its new rows
    inserted, so a figure withdrawn by a resubmission disappears and a group left with no rows is
    emptied. Recomputing a group twice gives the same rows, so the log may be taken in again
    without harm; missing one would be the only error, and cannot happen while builds run one
    after another.

    Tests follow the same log. A model's tests check only its groups changed since its rows
    were last tested and passed (`tested_through`; see get_where_subquery below): a new month's
    build tests the new month, not the history again. A build in which anything failed records
    nothing, so its groups are tested again by the next build; a model rebuilt whole is tested
    whole. `--vars '{test_whole_tables: true}'` tests every row. -#}


{#- A model built incrementally by groups declares its groups once, and takes from its inputs only
    the groups in `changed` (on a full build: everything):

        {{ incremental_by_groups(
            unique_key=['reporting_unit_code', 'period_code', 'program_code'],
            built_from='int_figures_deduplicated',
        ) }}

        with

        {{ changed_cte() }}

        figures as (

            select * from {{ ref('int_figures_deduplicated') }}
            {{ where_changed() }}

        ),
        ... -#}


{#- The config of a model built incrementally by groups: `unique_key`, its columns that name a
    group (indexed); `built_from`, the model it is built from, whose progress through the log it
    takes on; `indexes`, its other indexes. An incremental build reads the log, so the model
    depends on it (one built from the log reads it anyway). -#}
{% macro incremental_by_groups(unique_key, built_from, indexes=[]) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='replace_changed',
        unique_key=unique_key,
        on_schema_change='fail',
        indexes=[{'columns': unique_key}] + indexes,
        post_hook="{{ record_changes_through('" ~ built_from ~ "') }}",
    ) }}
    {%- if built_from != 'int_submission_changes' %}
-- depends_on: {{ ref('int_submission_changes') }}
    {%- endif %}
{%- endmacro %}


{#- The CTE `changed` (incremental builds only): the model's groups logged since its last build. -#}
{% macro changed_cte() -%}
    {%- if is_incremental() %}
changed as (

    {{ changed_since_last_build() }}

),
    {%- endif %}
{%- endmacro %}


{#- Keep only the changed groups of an input (incremental builds only). `columns`: the input's
    columns that name a group (by default the log's names for the model's groups); `keyword`:
    `where`, or `and` after a condition of the query's own. -#}
{% macro where_changed(columns=none, keyword='where') -%}
    {%- if is_incremental() -%}
        {{ keyword }} ({{ (columns or log_columns(config.get('unique_key'))) | join(', ') }})
        in (select * from changed)
    {%- endif -%}
{%- endmacro %}


{#- The log's columns for the group columns `keys`: admin_unit_code is the log's
    reporting_unit_code (`renamed`: under the key's name). -#}
{% macro log_columns(keys, renamed=false) -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set columns = [] -%}
    {%- for key in keys -%}
        {%- if key == 'admin_unit_code' -%}
            {%- do columns.append(
                'reporting_unit_code as admin_unit_code' if renamed else 'reporting_unit_code'
            ) -%}
        {%- else -%}
            {%- do columns.append(key) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}


{#- The log's batch numbers and the table of how far each incremental model is through the log:
    created by the log's pre-hook, which runs before any incremental model (they all follow the
    log). -#}
{% macro create_incremental_state() %}
    create sequence if not exists intermediate.change_batches;
    create table if not exists {{ incremental_progress() }} (
        model_name text primary key,
        changed_through bigint not null,
        recorded_at timestamptz not null default now()
    );
    alter table {{ incremental_progress() }}
        add column if not exists tested_through bigint not null default 0;
{% endmacro %}


{% macro incremental_progress() -%}
    {{ api.Relation.create(database=target.database, schema='intermediate', identifier='incremental_progress') }}
{%- endmacro %}


{#- How far `model_name` is through the change log (0 if it has no record: a model built before
    it was incremental takes in the whole log once). -#}
{% macro changed_through(model_name) -%}
    coalesce(
        (select changed_through from {{ incremental_progress() }} where model_name = '{{ model_name }}'),
        0
    )
{%- endmacro %}


{#- The same, read when the model is compiled and written into its SQL as a number: the planner
    then sees how few log entries are new and reads them, and the rows they name, by index. -#}
{% macro changed_through_now(model_name) -%}
    {{ return(progress_now(model_name, 'changed_through')) }}
{%- endmacro %}


{#- `model_name`'s `position` (changed_through or tested_through) in the progress table, read
    now (0 when parsing, or with no record). -#}
{% macro progress_now(model_name, position) -%}
    {%- if not execute or not incremental_state_exists() -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set found = run_query(
        "select coalesce(max(" ~ position ~ "), 0) from " ~ incremental_progress()
        ~ " where model_name = '" ~ model_name ~ "'"
    ).columns[0].values()[0] -%}
    {{ return(found | int) }}
{%- endmacro %}


{#- The groups (distinct values of the log's `columns`; by default this model's groups) changed
    since `model_name` (this model by default) was last built. -#}
{% macro changed_since_last_build(columns=none, model_name=none) -%}
    {%- set columns = columns or log_columns(config.get('unique_key')) -%}
    select distinct {{ columns | join(', ') }}
    from {{ ref('int_submission_changes') }}
    where change_batch > {{ changed_through_now(model_name or this.identifier) }}
{%- endmacro %}


{#- Post-hook of an incremental model: it is now as far through the log as `parent` (the model
    it was built from) was; the log's own end for a model built on the log itself. -#}
{% macro record_changes_through(parent) %}
    insert into {{ incremental_progress() }} as progress (model_name, changed_through, recorded_at)
    select
        '{{ this.identifier }}',
        {% if parent == 'int_submission_changes' -%}
        coalesce((select max(change_batch) from {{
            this if this.identifier == parent else ref('int_submission_changes')
        }}), 0),
        {%- else -%}
        {{ changed_through(parent) }},
        {%- endif %}
        now()
    on conflict (model_name) do update
        set changed_through = excluded.changed_through,
            recorded_at = excluded.recorded_at,
            -- rebuilt whole: none of its rows has been tested yet
            tested_through = {{ '0' if should_full_refresh() else 'progress.tested_through' }}
{% endmacro %}


{#- Strategy replace_changed: delete the groups (`unique_key`: the model's columns that identify
    a group, matched to the log's by name; admin_unit_code is the log's reporting_unit_code)
    changed since the last build, and any group the new rows carry; insert the new rows. -#}
{% macro get_incremental_replace_changed_sql(arg_dict) %}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set keys = [keys] if keys is string else keys %}
    delete from {{ target_relation }} as existing
    using (
        {{ changed_since_last_build(log_columns(keys, renamed=true), target_relation.identifier) }}
        union
        select {{ keys | join(', ') }} from {{ arg_dict['temp_relation'] }}
    ) as changed
    where {% for key in keys -%}
        existing.{{ key }} = changed.{{ key }}{{ ' and ' if not loop.last }}
    {%- endfor %};

    {{ get_insert_into_sql(target_relation, arg_dict['temp_relation'], arg_dict['dest_columns']) }}
{% endmacro %}


{#- The tests' `where` (set for every test in dbt_project.yml): `__changed_groups__` becomes the
    groups of the tested model changed since its rows were last tested and passed, for a model
    built incrementally by groups (strategy replace_changed: its unique_key) or one that names
    the log's columns that group its rows (meta `test_groups`); every row (`true`) otherwise,
    or when none has passed a test yet. A group is replaced whole by a build, and every key a
    test checks includes the group's, so a duplicate, a null or a broken key can only be in a
    group the build wrote: testing those groups tests everything the build wrote. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if '__changed_groups__' in where -%}
        {%- set where = where | replace('__changed_groups__', changed_groups_condition(relation)) -%}
    {%- endif -%}
    {%- if where and where | trim != 'true' -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{% macro changed_groups_condition(relation) -%}
    {%- if not execute or var('test_whole_tables', false) -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set models = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('alias', 'equalto', relation.identifier)
        | selectattr('schema', 'equalto', relation.schema)
        | list -%}
    {%- set log = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', 'int_submission_changes')
        | list -%}
    {%- if models | length != 1 or log | length != 1 -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set config = models[0].config -%}
    {%- set keys = config.meta.get('test_groups') -%}
    {%- if not keys and config.incremental_strategy == 'replace_changed' -%}
        {%- set keys = config.unique_key -%}
    {%- endif -%}
    {%- if config.materialized != 'incremental' or not keys -%}
        {{ return('true') }}
    {%- endif -%}
    {#- how far its rows have been tested and passed (0: never) -#}
    {%- set tested_through = progress_now(models[0].name, 'tested_through') -%}
    {%- if tested_through == 0 -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set condition -%}
        ({{ keys | join(', ') }}) in (
            select {{ log_columns(keys) | join(', ') }} from {{ log[0].relation_name }}
            where change_batch > {{ tested_through }}
        )
    {%- endset -%}
    {{ return(condition) }}
{%- endmacro %}


{% macro incremental_state_exists() -%}
    {%- set found = run_query(
        "select to_regclass('" ~ incremental_progress() ~ "') is not null"
    ) -%}
    {{ return(found.columns[0].values()[0]) }}
{%- endmacro %}


{#- on-run-end: after a `dbt build` or `dbt test` in which nothing failed, errored or was
    skipped, every incremental model whose tests ran has had its rows tested through the log's
    entries it was built from. -#}
{% macro record_tests_passed(results) %}
    {%- if not execute or flags.WHICH not in ['build', 'test'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested = [] -%}
    {%- for result in results -%}
        {%- if result.status in ['error', 'fail', 'skipped', 'runtime error'] -%}
            {{ return('') }}
        {%- endif -%}
        {%- if result.node.resource_type == 'test' -%}
            {%- for parent in result.node.depends_on.nodes -%}
                {%- do tested.append(parent.split('.')[-1]) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if tested and incremental_state_exists() -%}
    update {{ incremental_progress() }}
    set tested_through = changed_through
    where model_name in ('{{ tested | unique | join("', '") }}')
    {%- endif -%}
{% endmacro %}
