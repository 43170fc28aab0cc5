-- Scratch space for `bun run orders:rebuild-cache`: the stream is replayed into this table,
-- then merged into product_cache in one short transaction. Unlogged: nothing here needs to
-- survive a crash, the next rebuild starts it again from the stream.
create unlogged table orders.product_cache_rebuild (like orders.product_cache including all);
