{#-
  Seeds, on Postgres, loaded only when they changed.

  dbt's own seed materialization reads every CSV into agate and inserts every row on every
  build: for the reference lists (14,000 unit versions, their successors and aliases) about
  15 s, most of a build that publishes one file. This one first compares a marker, the CSV's
  checksum and the seed's config, with the marker the last load left in the table's comment.
  When they are equal and no `--full-refresh` was asked for, the table stays as it is, and the
  views that read it with it. Otherwise it loads exactly as dbt's (the same macros: reset or
  create, load_csv_rows, grants, indexes, hooks) and leaves the new marker.

  Below the marker check the body is dbt-core 1.11's `materialization seed, default`
  (global_project/macros/materializations/seeds/seed.sql), unchanged but for the marker written
  before the commit: a materialization cannot call the one it overrides. Compare it with dbt's
  when upgrading dbt.
-#}
{% materialization seed, adapter='postgres' %}

  {%- set identifier = model['alias'] -%}
  {%- set full_refresh_mode = (should_full_refresh()) -%}

  {%- set old_relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}

  {%- set exists_as_table = (old_relation is not none and old_relation.is_table) -%}
  {%- set exists_as_view = (old_relation is not none and old_relation.is_view) -%}

  {%- set marker = 'nhandao seed ' ~ local_md5(model['checksum']['checksum'] ~ tojson(model['config'])) -%}
  {%- if exists_as_table and not flags.FULL_REFRESH -%}
    {%- set stored = run_query(
          "select obj_description(" ~ dbt.string_literal(old_relation.render()) ~ "::regclass, 'pg_class')"
        ).columns[0].values()[0] -%}
    {%- if stored == marker -%}
      {#- the seed runner reads a result called agate_table (rows to --show): none here -#}
      {%- do store_result('agate_table', response='OK', agate_table=run_query('select 1 where false')) -%}
      {% call noop_statement('main', 'UNCHANGED', 'UNCHANGED', 0) -%}
        -- {{ old_relation }} already holds this CSV, loaded with this config
      {%- endcall %}
      {{ return({'relations': [old_relation]}) }}
    {%- endif -%}
  {%- endif -%}

  {%- set grant_config = config.get('grants') -%}
  {%- set agate_table = load_agate_table() -%}
  -- grab current tables grants config for comparison later on

  {%- do store_result('agate_table', response='OK', agate_table=agate_table) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}

  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  -- build model
  {% set create_table_sql = "" %}
  {% if exists_as_view %}
    {{ exceptions.raise_compiler_error("Cannot seed to '{}', it is a view".format(old_relation.render())) }}
  {% elif exists_as_table %}
    {% set create_table_sql = reset_csv_table(model, full_refresh_mode, old_relation, agate_table) %}
  {% else %}
    {% set create_table_sql = create_csv_table(model, agate_table) %}
  {% endif %}

  {% set code = 'CREATE' if full_refresh_mode else 'INSERT' %}
  {% set rows_affected = (agate_table.rows | length) %}
  {% set sql = "" %}
  {% if rows_affected > 0 %}
    {% set sql = load_csv_rows(model, agate_table) %}
  {% endif %}

  {% call noop_statement('main', code ~ ' ' ~ rows_affected, code, rows_affected) %}
    {{ get_csv_sql(create_table_sql, sql) }};
  {% endcall %}

  {% set target_relation = this.incorporate(type='table') %}

  {% set should_revoke = should_revoke(old_relation, full_refresh_mode) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}

  {% do persist_docs(target_relation, model) %}

  {% if full_refresh_mode or not exists_as_table %}
    {% do create_indexes(target_relation) %}
  {% endif %}

  {% call statement('seed_marker') -%}
    comment on table {{ target_relation }} is {{ dbt.string_literal(marker) }}
  {%- endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}

  -- `COMMIT` happens here
  {{ adapter.commit() }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
