-- The servers view, second version (inventory.Server is its Go twin, for
-- files; sink.TestInventoryMatchesViews checks they agree):
--   * Protected Resource Metadata is joined by the document's resource,
--     not by the server_key of its fetch (its own well-known URL);
--   * token audiences are split into accepted (2xx) and refused (401/403);
--   * session events count as well as messages, so header-only sources
--     (access logs of revisions before 2026-07-28) give servers;
--   * allowlisted: unexpected-server never fired for the server;
--   * sources: the kinds of source that saw it (pcap, iface, tap, probe);
--   * servers seen only as TLS connections whose SNI looks like MCP get a
--     row keyed https://SNI[:port] with tls_only = 1.
-- 18.16 allows one JOIN per SELECT, hence the nesting. LowCardinality
-- columns are cast to String: UNION ALL finds no supertype of
-- LowCardinality(String) and String.
DROP TABLE IF EXISTS {{.DB}}.servers;

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
    sources,
    clients,
    sessions,
    requests,
    tool_calls,
    errors,
    authenticated_requests,
    unauthenticated_ok,
    accepted_audiences,
    refused_audiences,
    challenges,
    forbidden,
    prm_documents,
    prm_documents > 0 AS prm_served,
    authorization_servers,
    unauthenticated_ok = 0 AND (authenticated_requests > 0 OR challenges > 0) AS auth_required,
    unexpected = 0 AS allowlisted,
    tls_only,
    tls_sni
FROM
(
    SELECT * FROM
    (
        SELECT * FROM
        (
            SELECT
                server_key,
                min(ts) AS first_seen,
                max(ts) AS last_seen,
                argMaxIf(s_server_name, ts, s_server_name != '') AS server_name,
                argMaxIf(s_server_version, ts, s_server_version != '') AS server_version,
                groupUniqArrayIf(s_protocol_version, s_protocol_version != '') AS protocol_versions,
                groupUniqArrayIf(s_transport, s_transport != '') AS transports,
                groupUniqArrayIf(server_address, server_address != '') AS server_addresses,
                groupUniqArrayIf(s_source, s_source != '') AS sources,
                uniqExactIf(client_address, client_address != '') AS clients,
                uniqExactIf(session_id, session_id != '') AS sessions,
                uniqExactIf(event_id, s_msg_type = 'request') AS requests,
                uniqExactIf(event_id, s_msg_type = 'request' AND s_method = 'tools/call') AS tool_calls,
                uniqExactIf(event_id, s_msg_type = 'error' OR tool_is_error = 1) AS errors,
                uniqExactIf(event_id, s_msg_type = 'request' AND s_auth_scheme NOT IN ('', 'none')) AS authenticated_requests,
                uniqExactIf(event_id, s_msg_type = 'request' AND s_auth_scheme IN ('', 'none') AND http_status >= 200 AND http_status < 300) AS unauthenticated_ok,
                groupUniqArrayArrayIf(token_aud, s_msg_type = 'request' AND s_auth_scheme = 'bearer' AND http_status >= 200 AND http_status < 300) AS accepted_audiences,
                groupUniqArrayArrayIf(token_aud, s_msg_type = 'request' AND s_auth_scheme = 'bearer' AND http_status IN (401, 403)) AS refused_audiences,
                toUInt8(0) AS tls_only,
                '' AS tls_sni
            FROM
            (
                SELECT server_key, ts, event_id, CAST(server_name AS String) AS s_server_name,
                    CAST(server_version AS String) AS s_server_version, CAST(protocol_version AS String) AS s_protocol_version,
                    CAST(transport AS String) AS s_transport, server_address,
                    splitByChar(':', CAST(source AS String))[1] AS s_source, client_address, session_id,
                    CAST(msg_type AS String) AS s_msg_type, CAST(method AS String) AS s_method, tool_is_error,
                    CAST(auth_scheme AS String) AS s_auth_scheme, http_status, token_aud
                FROM {{.DB}}.messages WHERE server_key != ''
                UNION ALL
                SELECT server_key, ts, event_id, CAST(server_name AS String) AS s_server_name,
                    CAST(server_version AS String) AS s_server_version, CAST(protocol_version AS String) AS s_protocol_version,
                    CAST(transport AS String) AS s_transport, server_address,
                    splitByChar(':', CAST(source AS String))[1] AS s_source, client_address, session_id,
                    '' AS s_msg_type, '' AS s_method, toUInt8(0) AS tool_is_error, '' AS s_auth_scheme, toUInt16(0) AS http_status,
                    emptyArrayString() AS token_aud
                FROM {{.DB}}.sessions WHERE server_key != ''
            )
            GROUP BY server_key
            UNION ALL
            SELECT
                server_key,
                min(ts) AS first_seen,
                max(ts) AS last_seen,
                '' AS server_name,
                '' AS server_version,
                emptyArrayString() AS protocol_versions,
                emptyArrayString() AS transports,
                groupUniqArrayIf(server_address, server_address != '') AS server_addresses,
                groupUniqArrayIf(splitByChar(':', CAST(source AS String))[1], source != '') AS sources,
                uniqExactIf(client_address, client_address != '') AS clients,
                toUInt64(0) AS sessions,
                toUInt64(0) AS requests,
                toUInt64(0) AS tool_calls,
                toUInt64(0) AS errors,
                toUInt64(0) AS authenticated_requests,
                toUInt64(0) AS unauthenticated_ok,
                emptyArrayString() AS accepted_audiences,
                emptyArrayString() AS refused_audiences,
                toUInt8(1) AS tls_only,
                any(tls_sni) AS tls_sni
            FROM
            (
                SELECT
                    concat('https://', multiIf(
                        server_port NOT IN (0, 443) AND position(host, ':') > 0, concat('[', host, ']:', toString(server_port)),
                        server_port NOT IN (0, 443), concat(host, ':', toString(server_port)),
                        position(host, ':') > 0, concat('[', host, ']'),
                        host)) AS server_key,
                    ts, server_address, source, client_address, tls_sni
                FROM (SELECT *, if(tls_sni != '', tls_sni, server_address) AS host FROM {{.DB}}.flows
                      WHERE app_protocol = 'tls' AND mcp_hint != '' AND (tls_sni != '' OR server_address != ''))
            )
            WHERE server_key NOT IN (SELECT server_key FROM {{.DB}}.messages UNION ALL SELECT server_key FROM {{.DB}}.sessions)
            GROUP BY server_key
        )
        ANY LEFT JOIN
        (
            SELECT
                server_key,
                uniqExactIf(event_id, auth_event = 'challenge') AS challenges,
                uniqExactIf(event_id, auth_event IN ('forbidden', 'insufficient_scope')) AS forbidden
            FROM {{.DB}}.auth
            WHERE server_key != ''
            GROUP BY server_key
        ) USING server_key
    )
    ANY LEFT JOIN
    (
        SELECT
            replaceRegexpOne(prm_resource, '/$', '') AS server_key,
            uniqExact(event_id) AS prm_documents,
            groupUniqArrayArray(prm_authorization_servers) AS authorization_servers
        FROM {{.DB}}.auth
        WHERE auth_event = 'prm' AND prm_resource != ''
        GROUP BY server_key
    ) USING server_key
)
ANY LEFT JOIN
(
    SELECT server_key, toUInt8(1) AS unexpected FROM {{.DB}}.alerts WHERE rule_id = 'unexpected-server' GROUP BY server_key
) USING server_key;
