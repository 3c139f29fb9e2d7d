-- The Origin header of a request (docs/events.md), for the posture check
-- origin-validated. An ALTER without IF NOT EXISTS on 18.16, so alone in its
-- migration.
ALTER TABLE {{.DB}}.messages ADD COLUMN origin String;
