-- Rows the server refused as bad data, set aside by BatchWriter so they do not
-- block the stream. payload is the schema JSON of the row, so a dead letter
-- can be fixed and replayed. Keyed by id: a poison event redelivered again is
-- one dead letter, not many.
CREATE TABLE IF NOT EXISTS {{.DB}}.dead_letters (
    ts          DateTime('UTC'),
    id          String,
    kind        String,
    error       String,
    payload     String{{codec "ZSTD(3)"}}
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (kind, id){{ttl "ts"}};
