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
    after another. -#}


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
    {%- if not execute -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set exists = run_query(
        "select to_regclass('" ~ incremental_progress() ~ "') is not null"
    ).columns[0].values()[0] -%}
    {%- if not exists -%}
        {{ return(0) }}
    {%- endif -%}
    {%- set found = run_query(
        "select coalesce(max(changed_through), 0) from " ~ incremental_progress()
        ~ " where model_name = '" ~ model_name ~ "'"
    ).columns[0].values()[0] -%}
    {{ return(found | int) }}
{%- endmacro %}


{#- The groups (distinct values of the log's `columns`) changed since `model_name` (this model by
    default) was last built. -#}
{% macro changed_since_last_build(columns, model_name=none) -%}
    select distinct {{ columns | join(', ') }}
    from {{ ref('int_submission_changes') }}
    where change_batch > {{ changed_through_now(model_name or this.identifier) }}
{%- endmacro %}


{#- Post-hook of an incremental model: it is now as far through the log as `parent` (the model
    it was built from) was; the log's own end for a model built on the log itself. -#}
{% macro record_changes_through(parent) %}
    insert into {{ incremental_progress() }} (model_name, changed_through, recorded_at)
    select
        '{{ this.identifier }}',
        {% if parent == 'int_submission_changes' -%}
        coalesce((select max(change_batch) from {{ ref('int_submission_changes') }}), 0),
        {%- else -%}
        {{ changed_through(parent) }},
        {%- endif %}
        now()
    on conflict (model_name) do update
        set changed_through = excluded.changed_through, recorded_at = excluded.recorded_at
{% endmacro %}


{#- Strategy replace_changed: delete the groups (`unique_key`: the model's columns that identify
    a group, matched to the log's by name; admin_unit_code is the log's reporting_unit_code)
    changed since the last build, and any group the new rows carry; insert the new rows. -#}
{% macro get_incremental_replace_changed_sql(arg_dict) %}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set log_columns = [] -%}
    {%- for key in keys -%}
        {%- do log_columns.append(
            'reporting_unit_code as admin_unit_code' if key == 'admin_unit_code' else key
        ) -%}
    {%- endfor %}
    delete from {{ target_relation }} as existing
    using (
        {{ changed_since_last_build(log_columns, target_relation.identifier) }}
        union
        select {{ keys | join(', ') }} from {{ arg_dict['temp_relation'] }}
    ) as changed
    where {% for key in keys -%}
        existing.{{ key }} = changed.{{ key }}{{ ' and ' if not loop.last }}
    {%- endfor %};

    {{ get_insert_into_sql(target_relation, arg_dict['temp_relation'], arg_dict['dest_columns']) }}
{% endmacro %}
