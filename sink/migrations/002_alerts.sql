-- Alerts. A rule may emit the same alert_id again with more evidence and a
-- later ts, so ts is not in the sorting key and ts_ns is the version: the
-- newest emission of an alert wins on merge (FINAL, or argMax(..., ts_ns)).
-- attributes is Nested (parallel key/value arrays, sorted by key) because Map
-- does not exist on 18.16.
CREATE TABLE IF NOT EXISTS {{.DB}}.alerts (
    schema             UInt16,
    alert_id           String,
    ts                 DateTime('UTC'),
    ts_ns              UInt64,
    rule_id            {{lc "String"}},
    rule_name          {{lc "String"}},
    severity           {{lc "String"}},
    category           {{lc "String"}},
    summary            String,
    server_key         String,
    client_address     String,
    session_id         String,
    tool_name          String,
    count              Int64,
    window_s           Float64,
    first_seen         DateTime('UTC'),
    first_seen_ns      UInt64,
    last_seen          DateTime('UTC'),
    last_seen_ns       UInt64,
    evidence_event_ids Array(String),
    attributes Nested (
        key   String,
        value String
    ),
    inserted_at        DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree(ts_ns)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (rule_id, alert_id){{ttl "ts"}};
