// Package pgstore is the relay's record store on PostgreSQL, for scale: any
// number of relay processes share one database.
//
// Apply copies a batch into a per-connection temporary table (COPY), then
// upserts it with one INSERT … SELECT … ON CONFLICT … DO UPDATE … WHERE the
// incoming version is newer, in one transaction. The batch is deduplicated
// and sorted by key first: PostgreSQL refuses an upsert naming a key twice,
// and writers that lock keys in the same order cannot deadlock.
//
// Keys and versions are text with the "C" collation, so they order bytewise,
// exactly like wire.Version.Compare and the Badger store. Fields are kept in
// a json column, byte for byte as received.
//
// The change feed: every row Apply writes takes a position from the
// feed_seq sequence; Apply holds the feed_tenants row of each tenant of the
// batch until it commits, one writer per tenant, so positions of a tenant
// become visible in order (the argument is on Apply). Changes reads
// through the (tenant, position) index, bounded by the head it read first.
//
// Open applies the schema migrations (see migrations.go) under a PostgreSQL
// advisory lock, so relays starting together do not race.
package pgstore
