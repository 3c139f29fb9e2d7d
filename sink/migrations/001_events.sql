-- One table per event kind (docs/events.md). Columns are the schema's field
-- names; absent values are the column defaults. Every timestamp is a
-- DateTime('UTC') for partitioning and Grafana's time macros plus a UInt64 of
-- Unix nanoseconds (*_ns) for full precision: DateTime64 does not exist on
-- 18.16. Booleans are UInt8.
--
-- ReplacingMergeTree with event_id last in the sorting key: every column of the
-- key is fixed for a given event_id, so a redelivered event lands on the same
-- key in the same daily partition and collapses on merge. Count with FINAL or
-- uniqExact(event_id). Daily partitions make retention a partition drop.
-- Sorting keys start with server_key because dashboards group and filter by
-- server within a time range, which the partition already narrows.

-- The envelope columns every event table starts with, in the order of
-- sink/columns.go (envelopeColumns).
{{define "envelope"}}
    schema            UInt16,
    event_id          String,
    ts                DateTime('UTC'),
    ts_ns             UInt64{{codec "Delta, ZSTD(1)"}},
    sensor            {{lc "String"}},
    source            {{lc "String"}},
    client_address    String,
    client_port       UInt16,
    server_address    String,
    server_port       UInt16,
    server_key        String,
    transport         {{lc "String"}},
    protocol_version  {{lc "String"}},
    session_id        String,
    client_name       {{lc "String"}},
    client_version    {{lc "String"}},
    server_name       {{lc "String"}},
    server_version    {{lc "String"}},{{end}}

CREATE TABLE IF NOT EXISTS {{.DB}}.messages (
    {{- template "envelope"}}
    direction         {{lc "String"}},
    msg_type          {{lc "String"}},
    method            {{lc "String"}},
    jsonrpc_id        String,
    tool_name         {{lc "String"}},
    resource_uri      String,
    prompt_name       {{lc "String"}},
    error_code        Int32,
    error_message     String{{codec "ZSTD(3)"}},
    tool_is_error     UInt8,
    bytes             Int64,
    duration_ms       Float64,
    http_method       {{lc "String"}},
    http_path         String,
    http_status       UInt16,
    user_agent        {{lc "String"}},
    auth_scheme       {{lc "String"}},
    token_id          String,
    token_iss         String,
    token_aud         Array(String),
    token_scope       String,
    token_client_id   String,
    token_exp         DateTime('UTC'),
    batch             UInt8,
    truncated         UInt8,
    inserted_at       DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (server_key, ts, event_id){{ttl "ts"}};

CREATE TABLE IF NOT EXISTS {{.DB}}.sessions (
    {{- template "envelope"}}
    start_ts            DateTime('UTC'),
    start_ts_ns         UInt64,
    end_ts              DateTime('UTC'),
    end_ts_ns           UInt64,
    end_reason          {{lc "String"}},
    messages_c2s        Int64,
    messages_s2c        Int64,
    bytes_c2s           Int64,
    bytes_s2c           Int64,
    requests            Int64,
    errors              Int64,
    tool_calls          Int64,
    auth_failures       Int64,
    authenticated       UInt8,
    methods             Array(String),
    tools_called        Array(String),
    client_capabilities Array(String),
    server_capabilities Array(String),
    inserted_at         DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (server_key, ts, event_id){{ttl "ts"}};

CREATE TABLE IF NOT EXISTS {{.DB}}.auth (
    {{- template "envelope"}}
    auth_event                {{lc "String"}},
    http_method               {{lc "String"}},
    http_path                 String,
    http_status               UInt16,
    www_authenticate          String{{codec "ZSTD(3)"}},
    resource_metadata         String,
    scope                     String,
    error                     String,
    prm_resource              String,
    prm_authorization_servers Array(String),
    grant_type                {{lc "String"}},
    resource                  String,
    pkce_method               {{lc "String"}},
    client_id                 String,
    token_id                  String,
    inserted_at               DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (server_key, ts, event_id){{ttl "ts"}};

-- tools is Nested: parallel arrays tools.name, tools.hash, ... one element per
-- tool, which 18.16 and current releases both store and query the same way.
CREATE TABLE IF NOT EXISTS {{.DB}}.manifests (
    {{- template "envelope"}}
    manifest_hash      String,
    tool_count         UInt32,
    tools Nested (
        name        String,
        hash        String,
        description String,
        read_only   UInt8,
        destructive UInt8
    ),
    after_list_changed UInt8,
    inserted_at        DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (server_key, ts, event_id){{ttl "ts"}};

-- Flows often have no server_key (TLS, non-MCP HTTP), so they sort by the
-- server's address instead.
CREATE TABLE IF NOT EXISTS {{.DB}}.flows (
    {{- template "envelope"}}
    app_protocol     {{lc "String"}},
    tls_sni          String,
    tls_alpn         Array(String),
    bytes_c2s        Int64,
    bytes_s2c        Int64,
    packets          Int64,
    duration_ms      Float64,
    mcp_hint         String,
    gaps             Int64,
    inserted_at      DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (server_address, server_port, ts, event_id){{ttl "ts"}};
