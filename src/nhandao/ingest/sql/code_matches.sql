-- Indicators and programs given by code or by name, matched once per distinct spelling: on the
-- words of a name (see nhandao.text.sql_name_words) equal to those of one of its names (resolved;
-- several codes: ambiguous), else contained in the names of several (ambiguous) or of one or none
-- (unknown, the one offered as a suggestion).
create temp table code_matches on commit drop as
with

given as (

    -- the distinct pairs first: one hash over the file's rows (a union would sort them twice)
    select kind, given
    from (select indicator_code, program_code from incoming group by 1, 2) as pairs
    cross join lateral (
        values
            ('indicator', nullif(trim(indicator_code), '')),
            ('program', nullif(trim(program_code), ''))
    ) as spellings (kind, given)
    group by kind, given

),

keyed as (

    select kind, given, string_to_array({{ name_words }}, ' ') as words
    from given
    where given is not null

),

exact as (

    select
        keyed.kind,
        keyed.given,
        count(distinct names.code) as match_count,
        min(names.code) as code,
        string_agg(distinct names.title, '; ') as titles
    from keyed
    inner join ref_code_names as names
        on names.kind = keyed.kind
        and names.name_key = array_to_string(keyed.words, '')
    group by keyed.kind, keyed.given

),

partial as (

    select
        keyed.kind,
        keyed.given,
        count(distinct names.code) as match_count,
        string_agg(distinct names.title, '; ') as titles
    from keyed
    inner join ref_code_names as names
        on names.kind = keyed.kind
        and names.words @> keyed.words
    where cardinality(keyed.words) > 0
    group by keyed.kind, keyed.given

)

select
    keyed.kind,
    keyed.given,
    array_to_string(keyed.words, '') as given_key,
    case
        when exact.match_count = 1 then 'resolved'
        when exact.match_count > 1 or partial.match_count > 1 then 'ambiguous'
        else 'unknown'
    end as status,
    case when exact.match_count = 1 then exact.code end as code,
    case when exact.match_count > 1 then exact.titles else partial.titles end as candidates
from keyed
left join exact on exact.kind = keyed.kind and exact.given = keyed.given
left join partial on partial.kind = keyed.kind and partial.given = keyed.given
