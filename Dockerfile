# nhandao: Airflow 3 + dbt (Postgres) + Great Expectations, on the official Airflow image.
#
# Follows the "extending the image" pattern of https://airflow.apache.org/docs/docker-stack/build.html:
# start from apache/airflow, stay the `airflow` user, install extra Python packages into the image's
# virtualenv (VIRTUAL_ENV=/home/airflow/.local) while keeping apache-airflow at ${AIRFLOW_VERSION}.
#
#   docker build -t nhandao-airflow .        (docker compose build does the same)
FROM apache/airflow:3.3.2-python3.11

# The uv that wrote uv.lock; `uv export --frozen` reads the lock as it is, never re-resolves it.
ARG UV_VERSION=0.13.9

# Where the project lives in the container (the compose file mounts the same paths).
ENV NHANDAO_PROJECT_DIR=/opt/nhandao \
    NHANDAO_HOME=/opt/nhandao/state \
    NHANDAO_LANDING=/opt/nhandao/landing \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/nhandao/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__CACHE_DIR=/opt/nhandao/state/cosmos \
    GX_ANALYTICS_ENABLED=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    DO_NOT_TRACK=1

# /opt is root's: create the project folders once, owned by airflow and group 0 (the image runs
# with an arbitrary UID and GID 0, so everything is group-writable as in the base image).
USER root
RUN mkdir -p /opt/nhandao/state /opt/nhandao/landing \
    && chown -R airflow:0 /opt/nhandao \
    && chmod -R g+rwX /opt/nhandao
USER airflow

# 1. Locked third-party dependencies (this layer is rebuilt only when pyproject.toml or uv.lock
#    change). The lock pins apache-airflow==3.3.2, the version already in the image; naming
#    "apache-airflow==${AIRFLOW_VERSION}" as well (as the official docs do) makes the install fail
#    instead of replacing Airflow if the lock and the base image ever disagree. Hashes from the
#    lock are verified.
COPY --chown=airflow:0 pyproject.toml uv.lock /tmp/nhandao/
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv export --frozen --no-dev --no-emit-project --quiet \
        --project /tmp/nhandao -o /tmp/nhandao/requirements.txt \
    && uv pip install --no-cache "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/nhandao/requirements.txt

# 2. The nhandao package itself (non-editable; its dependencies are all installed above).
COPY --chown=airflow:0 README.md /tmp/nhandao/
COPY --chown=airflow:0 src/ /tmp/nhandao/src/
RUN uv pip install --no-cache --no-deps /tmp/nhandao \
    && rm -rf /tmp/nhandao

# 3. DAGs, dbt project, Great Expectations suites and seeds.
COPY --chown=airflow:0 dags/ /opt/nhandao/dags/
COPY --chown=airflow:0 dbt_project/ /opt/nhandao/dbt_project/
COPY --chown=airflow:0 expectations/ /opt/nhandao/expectations/
COPY --chown=airflow:0 seeds/ /opt/nhandao/seeds/

# 4. Prebuild the dbt manifest (dbt_project/target/manifest.json) that Cosmos reads at DAG parse
#    time. Parsing connects to no database, but `nhandao dbt-parse` derives the profile's
#    NHANDAO_DBT_* variables from NHANDAO_WAREHOUSE_URL (and, without it, would start the embedded
#    pgserver), so a harmless URL is given on this line only; it is not kept in the image.
#    dbt packages, if the project declares any, are installed here too so that nothing is fetched
#    at run time. Re-run the parse whenever models change (the compose file's airflow-init does it
#    for the mounted ./dbt_project).
RUN cd /opt/nhandao \
    && export NHANDAO_WAREHOUSE_URL=postgresql://nhandao:build-only@localhost:5432/nhandao \
    && if [ -f dbt_project/packages.yml ] || [ -f dbt_project/dependencies.yml ]; then \
        dbt deps --project-dir dbt_project --profiles-dir dbt_project; \
    fi \
    && nhandao dbt-parse \
    && test -f dbt_project/target/manifest.json \
    && chmod -R g+rwX /opt/nhandao
