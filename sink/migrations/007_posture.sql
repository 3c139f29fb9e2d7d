-- Posture scorecards (posture package, docs/posture.md): one row per server
-- in posture, one per server and check in posture_checks, written by
-- `mcpwatch posture --save` and by `mcpwatch store --posture-every`. The
-- assessment is computed in Go from the stored events (the same code the
-- CLI runs on a JSONL file or a pcap); a newer assessment replaces an older
-- one (ReplacingMergeTree on assessed_ns): read with FINAL.
CREATE TABLE IF NOT EXISTS {{.DB}}.posture (
    assessed_at   DateTime('UTC'),
    assessed_ns   UInt64,
    server_key    String,
    grade         String,
    grade_reasons Array(String),
    first_seen    DateTime('UTC'),
    last_seen     DateTime('UTC'),
    tls_only      UInt8,
    sources       Array(String),
    failed        Array(String),
    not_observed  Array(String)
) ENGINE = ReplacingMergeTree(assessed_ns)
ORDER BY server_key;

CREATE TABLE IF NOT EXISTS {{.DB}}.posture_checks (
    assessed_at DateTime('UTC'),
    assessed_ns UInt64,
    server_key  String,
    check_id    String,
    status      String,
    evidence    Array(String),
    sources     Array(String),
    spec        String
) ENGINE = ReplacingMergeTree(assessed_ns)
ORDER BY (server_key, check_id);
