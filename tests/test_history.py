"""Real figures, real names: Hải Châu's 2019 report on the 2019 map and on today's map.

tests/data/hai_chau_2019.csv transcribes the figures of the published report
tests/data/narrative_reports/000_22793e6566fe4bbc.txt
(each row's note quotes its sentence), giving the wards by name as the report does. They are
loaded, built with dbt and read back as they were reported and as they lie on today's map.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from conftest import rows

from nhandao import dbt, submission_format
from nhandao.ingest import load

pytestmark = pytest.mark.dbt

REPORT = Path(__file__).parent / "data" / "hai_chau_2019.csv"


@pytest.fixture(scope="module")
def built(module_warehouse_url, manifest, tmp_path_factory):
    [result] = load.ingest_paths([REPORT], module_warehouse_url)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 14, 0)
    # the province's targets for 2019, as a target file (the second row is not a yearly target)
    targets = tmp_path_factory.mktemp("targets") / "48-targets-2019.csv"
    targets.write_text(
        ",".join(submission_format.TARGET_COLUMNS) + "\n"
        "492,Quận Hải Châu,2019,blood_units,280,Kế hoạch năm 2019\n"
        "492,Quận Hải Châu,2019M06,gift_packages,5.000,\n",
        encoding="utf-8",
    )
    [result] = load.ingest_paths([targets], module_warehouse_url)
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 1, 1)
    dbt.run(["build", "--quiet"], module_warehouse_url)
    return module_warehouse_url


def test_ward_names_resolve_on_the_2019_map(built):
    resolved = rows(
        built,
        "select distinct reporting_unit_name, resolved_unit_code from raw.submission_rows"
        " where reporting_unit_code is null order by 1",
    )
    # Bình Hiên is an older name of Phước Ninh (20242), kept as an alias
    assert resolved == [("Phường Bình Hiên", "20242"), ("Phường Hòa Thuận Tây", "20245")]


def test_figures_as_they_were_and_on_todays_map(built):
    figures = rows(
        built,
        """
        select facts.indicator_code, facts.value, facts.qualifier,
               as_was.admin_unit_name, as_is.admin_unit_name, as_is.admin_unit_code
        from (select * from audit.fct_aid_value union all select * from audit.fct_blood_units)
            as facts
        join audit.dim_admin_unit as as_was using (admin_unit_id)
        join audit.dim_admin_unit as as_is on as_is.admin_unit_id = facts.current_admin_unit_id
        where facts.period_code = '2019' and as_was.admin_level = 'ward'
        order by as_was.admin_unit_code, facts.indicator_code
        """,
    )
    assert figures == [
        # Bình Hiên → Phước Ninh (20242) then → Phường Hải Châu (20242 on today's map)
        (
            "aid_value_vnd",
            Decimal("120000000"),
            "lower_bound",
            "Phường Phước Ninh",
            "Phường Hải Châu",
            "20242",
        ),
        ("gift_packages", Decimal("215"), "exact", "Phường Phước Ninh", "Phường Hải Châu", "20242"),
        # Hòa Thuận Tây (20245) now lies in Phường Hòa Cường (20257)
        (
            "blood_units",
            Decimal("133"),
            "exact",
            "Phường Hòa Thuận Tây",
            "Phường Hòa Cường",
            "20257",
        ),
        (
            "gift_packages",
            Decimal("550"),
            "exact",
            "Phường Hòa Thuận Tây",
            "Phường Hòa Cường",
            "20257",
        ),
    ]


def test_the_district_rolls_up_to_todays_province(built):
    [(name, blood, gifts, aid, qualifier)] = rows(
        built,
        """
        select as_is.admin_unit_name,
               sum(facts.value) filter (where facts.indicator_code = 'blood_units'),
               sum(facts.value) filter (where facts.indicator_code = 'gift_packages'),
               sum(facts.value) filter (where facts.indicator_code = 'aid_value_vnd'),
               max(facts.qualifier) filter (where facts.indicator_code = 'aid_value_vnd')
        from (select * from audit.fct_aid_value union all select * from audit.fct_blood_units)
            as facts
        join audit.dim_admin_unit as as_was using (admin_unit_id)
        join audit.dim_admin_unit as as_is on as_is.admin_unit_id = facts.current_admin_unit_id
        where as_was.admin_unit_code = '492'
        group by as_is.admin_unit_name
        """,
    )
    assert (name, blood, gifts, aid, qualifier) == (
        "Thành phố Đà Nẵng",
        Decimal("1085"),
        Decimal("8578"),
        Decimal("3000000000"),
        "lower_bound",
    )


def test_the_scorecard_takes_the_districts_own_total(built):
    """Hải Châu reported 1.085 blood units itself: that is its total, Hòa Thuận Tây's 133
    are part of it, not added to it. Attainment is recomputed against the loaded target."""
    scorecard = rows(
        built,
        "select indicator_code, total, qualifier, reporting_units, target, target_source,"
        " attainment_pct, rank_in_province, units_ranked from audit.mart_unit_scorecard"
        " where admin_unit_code = '492' and year = 2019 and indicator_code in"
        " ('blood_units', 'aid_value_vnd') order by indicator_code",
    )
    assert scorecard == [
        # the demo seed's target (seeds/targets.csv), as no target file names this one
        (
            "aid_value_vnd",
            Decimal("3000000000"),
            "lower_bound",
            1,
            Decimal("2800000000"),
            "seed",
            Decimal("107.1"),
            1,
            1,
        ),
        (
            "blood_units",
            Decimal("1085"),
            "exact",
            1,
            Decimal("280"),
            "submitted",
            Decimal("387.5"),
            1,
            1,
        ),
    ]
    assert rows(built, "select reason_code from raw.rejections") == [("target_not_yearly",)]
    assert rows(built, "select count(*) from audit.fct_blood_units where value = 280") == [(0,)]
