-- newsdag warehouse migration 9: what a page says it is (issue 27): opinion, analysis, background, review,
-- satire or news, from its JSON-LD type, its section or its URL (tasks/htmlmeta.read_genre); NULL when it
-- does not say. Articles loaded before keep NULL until a run extracts them again.
ALTER TABLE articles ADD COLUMN IF NOT EXISTS genre VARCHAR;
