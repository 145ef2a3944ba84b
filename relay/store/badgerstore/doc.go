// Package badgerstore is the relay's embedded record store on Badger: the
// default for a single machine, needing no database server.
//
// Durability: the store opens Badger with SyncWrites, so Apply returns only
// after its records are fsynced. The relay acks a JetStream message only
// after Apply, so an acked batch survives power loss, not just a crash. The
// cost is one fsync per transaction, which the relay amortises by applying
// many records per call.
//
// Memory: a low-memory profile keeps the relay small and flat with volume.
// The bounds, per open store:
//
//   - memtables: two of 16 MiB (skiplist arenas, about 20 MiB each);
//   - block cache 16 MiB, index and bloom cache 16 MiB;
//   - values of 512 bytes or more (every record) live in the value log
//     (64 MiB files, memory-mapped: file-backed pages the kernel reclaims),
//     so the LSM tree holds keys and value pointers only, and the table
//     builders of flushes and compactions handle tables of a few MiB
//     instead of the records' bytes. Run's value-log GC reclaims the
//     space of replaced records.
//   - the mapped files' pages (value log, memtable logs, tables) count in
//     RSS as file-backed pages while they stay mapped: every page written or
//     read stays resident, so RSS grew with the volume (2.9 GB after 2.7 GB
//     of values, 130 MiB of it anonymous). One second after activity the
//     store pages them out (madvise MADV_PAGEOUT over its own mappings in
//     /proc/self/maps, Linux 5.4 and later; see relay/pageout): resident file
//     pages are then bounded by what one second of ingest writes and reads,
//     a few tens of MiB, not by the store's size. Pages read again come
//     back from the file (or the page cache); nothing is lost or zeroed.
//
// CPU at rest: Badger's compactors poll every 50 ms even when nothing is
// written, so the store runs Badger with none and compacts itself after
// writes (maintainer): when level 0 holds more than 5 tables it flattens
// the tree into one level. The cost is write amplification on large
// stores: with random keys each compaction rewrites the last level, which
// holds keys and value pointers only (about 80 bytes a record: 76 MB of
// tables at 1,000,000 records), once per six memtable flushes. Stores of
// tens of millions of records belong in PostgreSQL.
//
// A transaction holds at most about 15% of a memtable (2.4 MB of keys,
// pointers and small values), so Apply splits a large batch into several
// transactions (see Store.Apply).
//
// Keys (every part is a checked name, so 0x00 separates them and byte order
// is tuple order):
//
//	'r' tenant 0 integration 0 table 0 sys_id  -> record value (see value.go),
//	                                             holding its feed position
//	'p' tenant 0 position (8 bytes, big-endian) -> integration 0 table 0 sys_id
//	'h' tenant                                 -> uvarint highest position
//	'k' name 0 tenant                          -> a feed follower's mark
//	'a' tenant 0 agent                         -> JSON agent heartbeat
//	'q' id                                     -> JSON quarantined batch
//	'm' "schema"                               -> layout version
//	'm' "feed_epoch"                           -> the feed's epoch (random)
//
// Feed: Apply runs one at a time (applyMu) in the one process that holds
// the directory, so positions are committed in the order they are taken;
// a read snapshot always holds a prefix of them.
package badgerstore
