-- Bootstrap: the record of applied migrations. Run before every migration pass,
-- so it is not numbered itself.
CREATE TABLE IF NOT EXISTS {{.DB}}.schema_migrations (
    version    UInt32,
    name       String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
ORDER BY version;
