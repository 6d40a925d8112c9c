{{ config(tags=['metrics_source']) }}

{#-
    GitHub activity in the universal metric shape:

    - dev.commits: commits per UTC day, repository and author (unit commits);
    - dev.pull_requests.opened, at the moment each pull request was opened, and
      dev.pull_requests.merged, at the moment it was merged (unit pull_requests);
    - dev.pull_requests.time_to_merge_hours: hours from opening to merging, one row
      per merged pull request, at its merge;
    - dev.lines.added and dev.lines.deleted: a merged pull request's additions and
      deletions, at its merge (from the single pull request endpoint; none when the
      collector was told not to read it);
    - dev.releases: each published release, at its publication.

    The author is a person of people.csv: a commit's email first, then the GitHub
    login through seeds/github_users.csv (pull requests and releases have only the
    login). The person gives user_email, team and department; a bot or an unknown
    author falls back to the team and department that own the repository. The
    repository maps through source_mappings (key_name repository) to its project.
-#}

with

stg_github__commits as (

    select * from {{ ref('stg_github__commits') }}

),

stg_github__pull_requests as (

    select * from {{ ref('stg_github__pull_requests') }}

),

stg_github__releases as (

    select * from {{ ref('stg_github__releases') }}

),

people as (

    select * from {{ ref('people') }}

),

github_users as (

    select * from {{ ref('github_users') }}

),

source_mappings as (

    select * from {{ ref('source_mappings') }}

),

repositories as (

    select
        lower(key_value) as repository_key,
        department,
        team,
        project,
        environment
    from source_mappings
    where source_system = 'github' and key_name = 'repository'

),

logins as (

    select
        lower(github_users.login) as login_key,
        lower(github_users.email) as email
    from github_users

),

commit_days as (

    select
        date_trunc('day', commits.committed_at, 'UTC') as observed_at,
        commits.repository,
        commits.author_login,
        commits.author_email,
        count(*) as commit_count
    from stg_github__commits as commits
    where commits.committed_at is not null
    group by 1, 2, 3, 4

),

commit_observations as (

    select
        concat_ws(
            '|',
            'commits',
            to_char(commit_days.observed_at at time zone 'UTC', 'YYYY-MM-DD'),
            commit_days.repository,
            coalesce(commit_days.author_login, ''),
            coalesce(commit_days.author_email, '')
        ) as natural_key,
        commit_days.observed_at,
        'dev.commits' as metric_type,
        commit_days.commit_count::numeric as value,
        'commits' as unit,
        commit_days.repository,
        commit_days.author_login,
        commit_days.author_email,
        jsonb_strip_nulls(
            jsonb_build_object(
                'repository', commit_days.repository,
                'author_login', commit_days.author_login
            )
        ) as tags
    from commit_days

),

pull_request_observations as (

    select
        concat_ws(
            '|', 'pull', pulls.repository, pulls.pull_request_number
        ) as natural_key,
        events.observed_at,
        events.metric_type,
        events.value,
        events.unit,
        pulls.repository,
        pulls.author_login,
        null::text as author_email,
        jsonb_strip_nulls(
            jsonb_build_object(
                'repository', pulls.repository,
                'number', pulls.pull_request_number,
                'author_login', pulls.author_login,
                'merged_by_login', pulls.merged_by_login,
                'state', pulls.pull_request_state,
                'changed_files', pulls.changed_files
            )
        ) as tags
    from stg_github__pull_requests as pulls
    cross join
        lateral (
            values
            ('dev.pull_requests.opened', pulls.created_at, 1::numeric, 'pull_requests'),
            (
                'dev.pull_requests.merged', pulls.merged_at,
                case when pulls.merged_at is not null then 1::numeric end,
                'pull_requests'
            ),
            (
                'dev.pull_requests.time_to_merge_hours', pulls.merged_at,
                round(
                    extract(epoch from pulls.merged_at - pulls.created_at)::numeric
                    / 3600,
                    4
                ),
                'hours'
            ),
            (
                'dev.lines.added', pulls.merged_at, pulls.additions::numeric, 'lines'
            ),
            (
                'dev.lines.deleted', pulls.merged_at, pulls.deletions::numeric, 'lines'
            )
        ) as events (metric_type, observed_at, value, unit)
    where events.observed_at is not null and events.value is not null

),

release_observations as (

    select
        concat_ws('|', 'release', releases.repository, releases.release_id)
            as natural_key,
        releases.published_at as observed_at,
        'dev.releases' as metric_type,
        1::numeric as value,
        'releases' as unit,
        releases.repository,
        releases.author_login,
        null::text as author_email,
        jsonb_strip_nulls(
            jsonb_build_object(
                'repository', releases.repository,
                'tag_name', releases.tag_name,
                'prerelease', releases.is_prerelease,
                'author_login', releases.author_login
            )
        ) as tags
    from stg_github__releases as releases
    where releases.published_at is not null and not releases.is_draft

),

observations as (

    select * from commit_observations
    union all
    select * from pull_request_observations
    union all
    select * from release_observations

),

-- The email people.csv knows: the commit's own, else the one the login maps to.
authored as (

    select
        observations.*,
        coalesce(by_email.email, by_login.email) as person_email
    from observations
    left join people as by_email
        on observations.author_email = lower(by_email.email)
    left join logins
        on lower(observations.author_login) = logins.login_key
    left join people as by_login
        on logins.email = lower(by_login.email)

),

final as (

    select
        {{ metric_id(
            "'github'",
            'authored.natural_key',
            'authored.metric_type',
        ) }} as metric_id,
        authored.observed_at,
        'github' as source_system,
        authored.metric_type,
        authored.value,
        authored.unit,
        authored.tags,
        coalesce(people.department, repositories.department, 'unallocated')
            as department,
        coalesce(people.team, repositories.team, 'unallocated') as team,
        coalesce(lower(people.email), 'unallocated') as user_email,
        coalesce(repositories.project, 'unallocated') as project,
        'unallocated' as customer,
        'unallocated' as feature,
        'unallocated' as cost_category,
        coalesce(nullif(repositories.environment, ''), 'unallocated') as environment,
        'GitHub' as service,
        'unallocated' as region
    from authored
    left join people
        on lower(authored.person_email) = lower(people.email)
    left join repositories
        on lower(authored.repository) = repositories.repository_key

)

select * from final
