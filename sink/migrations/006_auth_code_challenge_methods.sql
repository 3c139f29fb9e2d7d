-- code_challenge_methods_supported of authorization server metadata
-- (docs/events.md), for the posture check pkce-s256.
ALTER TABLE {{.DB}}.auth ADD COLUMN code_challenge_methods Array(String);
