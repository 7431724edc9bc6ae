-- newsdag warehouse migration 4: MinHash signatures are computed another way (shingle hashes from word
-- hashes, multiply-shift permutations: 5x faster), so signatures and LSH buckets stored before cannot be
-- compared with new ones. Dropping them makes every article pending: the next cluster step fingerprints
-- them again. Story assignments, duplicates and near-duplicate pairs are kept (assignments never move).
DELETE FROM minhash_bands;
DELETE FROM article_signatures;
