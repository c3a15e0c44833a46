-- Before the setting, every collection had the index; the key is unknown there.
UPDATE collections SET settings = settings - 'ftsIndex' WHERE settings ? 'ftsIndex';
