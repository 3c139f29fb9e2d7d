-- Inventory views for `mcpwatch servers`, the posture dashboard and hunting.
-- Plain views, computed at query time, so they are never stale and need no
-- backfill. Every aggregate is insensitive to duplicate rows (min, max,
-- argMax, groupUniqArray, uniqExact(event_id)), so they are right before
-- ReplacingMergeTree has merged redelivered events away, without FINAL.
-- A view that must change is dropped and recreated by a later migration.

-- One row per MCP endpoint: when it was seen, what it says it is, which
-- protocol versions and transports it spoke, and its auth posture.
--   auth_required: no request without credentials was answered 2xx, and
--   credentials or 401 challenges were seen.
CREATE VIEW IF NOT EXISTS {{.DB}}.servers AS
SELECT
    server_key,
    first_seen,
    last_seen,
    server_name,
    server_version,
    protocol_versions,
    transports,
    server_addresses,
    clients,
    sessions,
    requests,
    tool_calls,
    errors,
    authenticated_requests,
    unauthenticated_ok,
    token_audiences,
    challenges,
    forbidden,
    prm_served,
    authorization_servers,
    unauthenticated_ok = 0 AND (authenticated_requests > 0 OR challenges > 0) AS auth_required
FROM
(
    SELECT
        server_key,
        min(ts) AS first_seen,
        max(ts) AS last_seen,
        argMaxIf(server_name, ts, server_name != '') AS server_name,
        argMaxIf(server_version, ts, server_version != '') AS server_version,
        groupUniqArrayIf(protocol_version, protocol_version != '') AS protocol_versions,
        groupUniqArrayIf(transport, transport != '') AS transports,
        groupUniqArrayIf(server_address, server_address != '') AS server_addresses,
        uniqExactIf(client_address, client_address != '') AS clients,
        uniqExactIf(session_id, session_id != '') AS sessions,
        uniqExactIf(event_id, msg_type = 'request') AS requests,
        uniqExactIf(event_id, msg_type = 'request' AND method = 'tools/call') AS tool_calls,
        uniqExactIf(event_id, msg_type = 'error' OR tool_is_error = 1) AS errors,
        uniqExactIf(event_id, msg_type = 'request' AND auth_scheme NOT IN ('', 'none')) AS authenticated_requests,
        uniqExactIf(event_id, msg_type = 'request' AND auth_scheme IN ('', 'none') AND http_status >= 200 AND http_status < 300) AS unauthenticated_ok,
        groupUniqArrayArray(token_aud) AS token_audiences
    FROM {{.DB}}.messages
    WHERE server_key != ''
    GROUP BY server_key
)
ANY LEFT JOIN
(
    SELECT
        server_key,
        uniqExactIf(event_id, auth_event = 'challenge') AS challenges,
        uniqExactIf(event_id, auth_event IN ('forbidden', 'insufficient_scope')) AS forbidden,
        uniqExactIf(event_id, auth_event = 'prm') > 0 AS prm_served,
        groupUniqArrayArray(prm_authorization_servers) AS authorization_servers
    FROM {{.DB}}.auth
    WHERE server_key != ''
    GROUP BY server_key
) USING server_key;

-- One row per client (address and clientInfo name): when it was seen and
-- which servers it talked to.
CREATE VIEW IF NOT EXISTS {{.DB}}.clients AS
SELECT
    client_address,
    client_name,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    argMaxIf(client_version, ts, client_version != '') AS client_version,
    groupUniqArrayIf(user_agent, user_agent != '') AS user_agents,
    groupUniqArrayIf(server_key, server_key != '') AS servers,
    uniqExactIf(session_id, session_id != '') AS sessions,
    uniqExactIf(event_id, msg_type = 'request') AS requests,
    uniqExactIf(event_id, msg_type = 'request' AND method = 'tools/call') AS tool_calls
FROM {{.DB}}.messages
WHERE client_address != ''
GROUP BY client_address, client_name;

-- One row per tool of each server, from the manifests (tools/list results):
-- latest hash and annotations, and how many distinct definitions it had —
-- more than one is drift (rug pull, redefinition).
CREATE VIEW IF NOT EXISTS {{.DB}}.server_tools AS
SELECT
    server_key,
    tool_name,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    argMax(t_hash, ts) AS hash,
    argMax(t_description, ts) AS description,
    argMax(t_read_only, ts) AS read_only,
    argMax(t_destructive, ts) AS destructive,
    uniqExact(t_hash) AS definitions
FROM
(
    -- t_ names: an alias equal to an outer aggregate's name would be
    -- substituted into it.
    SELECT
        server_key,
        ts,
        tools.name AS tool_name,
        tools.hash AS t_hash,
        tools.description AS t_description,
        tools.read_only AS t_read_only,
        tools.destructive AS t_destructive
    FROM {{.DB}}.manifests
    ARRAY JOIN tools
    WHERE server_key != ''
)
GROUP BY server_key, tool_name;
