-- Named statements of clustering (tasks/stories.py): duplicates, near-duplicates, events and stories, one
-- transaction per chunk. Each starts with "-- name: <name>"; every value is a bound parameter.
-- Registered relations: batch_signatures, batch_bands, batch_terms (the chunk's fingerprints), then
-- batch_duplicates, batch_near_duplicates, batch_event_articles, batch_story_articles, batch_new_events
-- (the decisions).

-- name: pending_articles
-- Articles never clustered, or whose text changed since; the day is as written, else the day first seen.
SELECT a.article_id, a.url, a.site_name, a.source, a.title, a.description, a.text, a.text_sha256,
       coalesce(a.published_date, CAST(r.started_at AS DATE), $today) AS day
FROM articles AS a
LEFT JOIN article_signatures AS s USING (article_id)
LEFT JOIN runs AS r ON r.run_id = a.first_seen_run
WHERE s.article_id IS NULL OR s.text_sha256 <> a.text_sha256
ORDER BY day, a.published_at NULLS LAST, a.article_id
LIMIT $limit;

-- name: exact_originals
-- An original (not itself a duplicate) outside the chunk with the same normalised text, the earliest first,
-- with its event and story.
SELECT b.article_id, first(s.article_id ORDER BY s.day, s.article_id) AS original_id,
       first(ea.event_id ORDER BY s.day, s.article_id) AS event_id,
       first(sa.story_id ORDER BY s.day, s.article_id) AS story_id
FROM batch_signatures AS b
JOIN article_signatures AS s ON s.norm_sha256 = b.norm_sha256
JOIN articles AS a ON a.article_id = s.article_id
LEFT JOIN event_articles AS ea ON ea.article_id = s.article_id
LEFT JOIN story_articles AS sa ON sa.article_id = s.article_id
WHERE a.duplicate_of IS NULL AND s.article_id NOT IN (SELECT article_id FROM batch_signatures)
GROUP BY b.article_id;

-- name: lsh_candidates
-- Articles outside the chunk sharing at least one LSH bucket with a chunk article, with their signature.
SELECT DISTINCT b.article_id, s.article_id AS other_id, s.minhash, s.norm_sha256, ea.event_id, sa.story_id
FROM batch_bands AS b
JOIN minhash_bands AS m ON m.band_key = b.band_key
JOIN article_signatures AS s ON s.article_id = m.article_id
LEFT JOIN event_articles AS ea ON ea.article_id = s.article_id
LEFT JOIN story_articles AS sa ON sa.article_id = s.article_id
WHERE s.article_id NOT IN (SELECT article_id FROM batch_signatures);

-- name: current_events
SELECT article_id, event_id FROM event_articles WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: current_stories
-- Also articles clustered before events existed (migration 12): they keep their story.
SELECT article_id, story_id FROM story_articles WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: neighbour_events
-- The events a chunk article may join as a copy (of an original, of a near-duplicate) or keeps: their story,
-- days and size. Events of similar articles come with story_candidates.
WITH neighbours AS (
    SELECT s.article_id
    FROM batch_signatures AS b JOIN article_signatures AS s ON s.norm_sha256 = b.norm_sha256
    UNION SELECT m.article_id
    FROM batch_bands AS b JOIN minhash_bands AS m ON m.band_key = b.band_key
    UNION SELECT article_id FROM batch_signatures
)
SELECT e.event_id, e.story_id, e.first_day, e.last_day, e.article_count
FROM events AS e
WHERE e.event_id IN (
    SELECT event_id FROM event_articles WHERE article_id IN (SELECT article_id FROM neighbours)
);

-- name: forget_term_counts
-- A changed article's old terms no longer count towards document frequencies.
UPDATE story_term_df AS d SET df = d.df - c.n
FROM (
    SELECT term, count(*) AS n FROM story_terms
    WHERE article_id IN (SELECT article_id FROM batch_signatures) GROUP BY term
) AS c
WHERE d.term = c.term;

-- name: forget_terms
DELETE FROM story_terms WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: forget_bands
DELETE FROM minhash_bands WHERE article_id IN (SELECT article_id FROM batch_signatures);

-- name: forget_near_duplicates
DELETE FROM near_duplicates
WHERE article_id IN (SELECT article_id FROM batch_signatures) OR other_id IN (SELECT article_id FROM batch_signatures);

-- name: insert_signatures
INSERT INTO article_signatures BY NAME SELECT * FROM batch_signatures
ON CONFLICT (article_id) DO UPDATE SET
    text_sha256 = excluded.text_sha256, norm_sha256 = excluded.norm_sha256, minhash = excluded.minhash,
    day = excluded.day, outlet = excluded.outlet, clustered_at = excluded.clustered_at;

-- name: insert_bands
INSERT INTO minhash_bands BY NAME SELECT band_key, article_id FROM batch_bands;

-- name: insert_terms
INSERT INTO story_terms BY NAME SELECT term, day, article_id, boost FROM batch_terms;

-- name: count_terms
INSERT INTO story_term_df SELECT term, count(*) FROM batch_terms GROUP BY term
ON CONFLICT (term) DO UPDATE SET df = story_term_df.df + excluded.df;

-- name: story_candidates
-- Articles sharing story terms with a chunk article within +-$window days (blocked on (term, day), so the
-- work per article depends on that window's size, never on the whole table), scored by cosine similarity
-- of IDF-weighted term vectors (IDF: ln((docs + 1) / (df + 1)) + 1 over the clustered articles), with their
-- day, and their event (its story, days and size) once they have one.
WITH offsets AS (SELECT unnest(range(-$window, $window + 1)) AS shift),
probes AS (
    SELECT b.article_id, b.term, b.day + CAST(o.shift AS INTEGER) AS day
    FROM batch_terms AS b, offsets AS o
),
matches AS (
    SELECT p.article_id, t.article_id AS other_id, t.day AS other_day, p.term
    FROM probes AS p
    JOIN story_terms AS t ON t.term = p.term AND t.day = p.day
    WHERE t.article_id <> p.article_id
),
involved AS (SELECT article_id FROM batch_terms UNION SELECT other_id FROM matches),
docs AS (SELECT count(*) AS n FROM article_signatures),
weights AS (
    SELECT t.article_id, t.term, t.boost * (ln((docs.n + 1.0) / (d.df + 1.0)) + 1.0) AS w
    FROM story_terms AS t
    JOIN story_term_df AS d USING (term)
    CROSS JOIN docs
    WHERE t.day BETWEEN $first_day AND $last_day AND t.article_id IN (SELECT article_id FROM involved)
),
norms AS (SELECT article_id, sqrt(sum(w * w)) AS norm FROM weights GROUP BY article_id),
shared AS (
    SELECT m.article_id, m.other_id, m.other_day, sum(wa.w * wb.w) AS dot
    FROM matches AS m
    JOIN weights AS wa ON wa.article_id = m.article_id AND wa.term = m.term
    JOIN weights AS wb ON wb.article_id = m.other_id AND wb.term = m.term
    GROUP BY ALL
),
scored AS (
    SELECT s.article_id, s.other_id, s.other_day, s.dot / (na.norm * nb.norm) AS score
    FROM shared AS s
    JOIN norms AS na ON na.article_id = s.article_id
    JOIN norms AS nb ON nb.article_id = s.other_id
    WHERE s.dot / (na.norm * nb.norm) >= $min_score
)
SELECT c.article_id, c.other_id, c.other_day, c.score, ea.event_id, coalesce(e.story_id, sa.story_id) AS story_id,
       e.first_day, e.last_day, e.article_count
FROM scored AS c
LEFT JOIN event_articles AS ea ON ea.article_id = c.other_id
LEFT JOIN events AS e ON e.event_id = ea.event_id
LEFT JOIN story_articles AS sa ON sa.article_id = c.other_id;

-- name: set_duplicates
UPDATE articles SET duplicate_of = d.duplicate_of
FROM batch_duplicates AS d
WHERE articles.article_id = d.article_id AND articles.duplicate_of IS DISTINCT FROM d.duplicate_of;

-- name: insert_near_duplicates
INSERT INTO near_duplicates BY NAME SELECT article_id, other_id, similarity FROM batch_near_duplicates
ON CONFLICT (article_id, other_id) DO UPDATE SET similarity = excluded.similarity;

-- name: insert_event_articles
INSERT INTO event_articles BY NAME SELECT * FROM batch_event_articles
ON CONFLICT (article_id) DO NOTHING;

-- name: insert_story_articles
INSERT INTO story_articles BY NAME SELECT * FROM batch_story_articles
ON CONFLICT (article_id) DO NOTHING;

-- name: refresh_events
-- Recompute the events this chunk touched from their articles (duplicates not counted); a new event takes
-- its story from batch_new_events, a stored one keeps its own.
INSERT INTO events BY NAME
WITH members AS (
    SELECT ea.event_id, a.article_id, a.title, a.published_at, a.duplicate_of, s.day, s.outlet
    FROM event_articles AS ea
    JOIN articles AS a USING (article_id)
    JOIN article_signatures AS s USING (article_id)
    WHERE ea.event_id IN (SELECT event_id FROM batch_event_articles)
),
counted AS (
    SELECT event_id,
           first(title ORDER BY day, published_at NULLS LAST, article_id) FILTER (WHERE duplicate_of IS NULL) AS title,
           min(published_at) AS first_published,
           max(published_at) AS last_published,
           min(day) AS first_day,
           max(day) AS last_day,
           count(*) FILTER (WHERE duplicate_of IS NULL) AS article_count,
           count(DISTINCT outlet) FILTER (WHERE duplicate_of IS NULL) AS outlet_count
    FROM members
    GROUP BY event_id
)
SELECT c.*, coalesce(n.story_id, e.story_id) AS story_id, coalesce(n.story_method, e.story_method) AS story_method,
       coalesce(n.story_similarity, e.story_similarity) AS story_similarity, $now AS updated_at
FROM counted AS c
LEFT JOIN batch_new_events AS n USING (event_id)
LEFT JOIN events AS e USING (event_id)
ON CONFLICT (event_id) DO UPDATE SET
    title = excluded.title, first_published = excluded.first_published,
    last_published = excluded.last_published, first_day = excluded.first_day, last_day = excluded.last_day,
    article_count = excluded.article_count, outlet_count = excluded.outlet_count, updated_at = excluded.updated_at;

-- name: refresh_stories
-- Recompute the stories this chunk touched from their articles and events; duplicates are not counted.
INSERT INTO stories BY NAME
WITH event_counts AS (
    SELECT story_id, count(*) AS event_count FROM events
    WHERE story_id IN (SELECT story_id FROM batch_story_articles)
    GROUP BY story_id
)
SELECT sa.story_id,
       first(a.title ORDER BY s.day, a.published_at NULLS LAST, a.article_id)
           FILTER (WHERE a.duplicate_of IS NULL) AS title,
       min(a.published_at) AS first_published,
       max(a.published_at) AS last_published,
       min(s.day) AS first_day,
       max(s.day) AS last_day,
       count(*) FILTER (WHERE a.duplicate_of IS NULL) AS article_count,
       count(DISTINCT s.outlet) FILTER (WHERE a.duplicate_of IS NULL) AS outlet_count,
       coalesce(any_value(ec.event_count), 0) AS event_count,
       $now AS updated_at
FROM story_articles AS sa
JOIN articles AS a USING (article_id)
JOIN article_signatures AS s USING (article_id)
LEFT JOIN event_counts AS ec USING (story_id)
WHERE sa.story_id IN (SELECT story_id FROM batch_story_articles)
GROUP BY sa.story_id
ON CONFLICT (story_id) DO UPDATE SET
    title = excluded.title, first_published = excluded.first_published,
    last_published = excluded.last_published, first_day = excluded.first_day, last_day = excluded.last_day,
    article_count = excluded.article_count, outlet_count = excluded.outlet_count,
    event_count = excluded.event_count, updated_at = excluded.updated_at;
