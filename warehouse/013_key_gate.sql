-- newsdag warehouse migration 13: the warehouse's record of its key index (warehouse/keys.py), files
-- beside it holding a hash of every key stored here, so a batch's look-ups skip DuckDB for keys it does not
-- hold. One row: the random id (new at each write) and the generation of the last batch written with it, and
-- the articles and documents rows that batch left (another writer's inserts change them, and the index then
-- lacks their keys). NULL counts: no index yet; the first write builds it.
CREATE TABLE IF NOT EXISTS key_gate (
    gate_id     VARCHAR NOT NULL,
    generation  BIGINT NOT NULL,
    articles    BIGINT,
    documents   BIGINT
);
INSERT INTO key_gate SELECT CAST(uuid() AS VARCHAR), 0, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM key_gate);
