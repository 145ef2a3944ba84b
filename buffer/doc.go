// Package buffer is the agent's durable outbox: a FIFO of opaque batches and a
// small key/value state (cursors, tokens, counters) in one Badger database.
//
// It knows nothing of ServiceNow or NATS. The poller commits a batch together
// with its new cursor in one transaction (Append), the forwarder leases the
// oldest batches, publishes them and deletes them only after the remote side
// acknowledged them (Ack). A crash at any instant therefore loses nothing: a
// batch is either committed with its cursor or neither is, and a batch that
// was leased but not acked is pending again after a restart.
//
// # Durability
//
// The database is opened with SyncWrites=true: every Append, Ack and Set
// commit is fsynced before it returns. One batch is a whole page of records
// (typically 64 KiB to 1 MiB), appended at most a few times a second, so one
// fsync per commit costs little next to the HTTP round trip that produced the
// page, and it makes "Append returned" mean "on disk", even across a power
// loss. A group commit with db.Sync() would only pay off for many tiny writes,
// which the agent does not make.
//
// # Layout
//
// Keys live in separate spaces: "q/m/<seq>" holds a batch's metadata, "q/d/<seq>"
// its data (seq big-endian, so iteration is FIFO), "s/<key>" the state,
// "r/<id>" the pending repairs, "a/<seq>" the ranges of the last 4,096 acked
// batches, "x/instance" the random instance id made when the directory is
// first used, "x/format" the format version (see Format) and "x/seq" the
// last seq assigned (written in every Append, so a seq is never reused, even
// when every batch was acked). An in-memory index of the pending
// batches, rebuilt at Open by one scan of the metadata keys, is the read cursor:
// Lease reads each batch by its key and never iterates over the tombstones that
// acked batches leave at the head of the queue. Stats come from the same index.
//
// # Damage
//
// The buffer never hands out damaged bytes as good ones, and it never
// forgets what a damaged part held; the source is replayable, so it is
// read again:
//
//   - Every batch's metadata carries the CRC-32C of its data and the Range
//     of the source it was read from (opaque here: the agent puts the table
//     and the cursors before and after the page), and a CRC-32C of its own.
//     Lease checks each batch before handing it out. A batch that fails, or
//     cannot be read, or has metadata but no data, is deleted and a Repair
//     of its range is recorded in the same transaction. The caller reads
//     the range again and calls ResolveRepairs. A batch whose metadata is
//     damaged at Open has no known range: its repair covers every table.
//   - Every state value carries a version byte and its CRC-32C; Get returns
//     ErrDamaged instead of damaged bytes.
//   - Badger verifies each block's checksum when it reads it
//     (ChecksumVerificationMode OnBlockRead) and each value-log entry's
//     (VerifyValueChecksum). Before Badger opens the database, Open
//     verifies every table the MANIFEST lists, in its own goroutine: Badger
//     v4.9.6 panics in a goroutine of its own on a damaged table (the
//     process dies) or silently leaves a table out. A buffer that fails
//     there, or that Badger refuses to open, fails Open with ErrDamaged;
//     the agent moves it aside (MoveAside) and starts afresh from the
//     relay's confirmations. A locked buffer is never called damaged.
//   - Damage in the write-ahead log (*.mem) needs nothing: Badger truncates
//     the log at the damage, and since a batch and its cursor commit
//     together, the cursor rolls back with the batch.
//
// Cost, old code against new on the shared 2-core machine (go test -run
// '^$' -bench 'LeaseRead|AppendLeaseAck' -benchtime 300x -count 2
// ./buffer/): the fsynced Append+Lease+Ack cycle shows no difference within
// the noise (64 KiB: 69-108 batches/s before, 88-117 after). Reading alone
// (BenchmarkLeaseRead) costs about 25 µs more per 64 KiB batch (best 1.0
// GB/s before, 0.71 GB/s after); at 512 KiB it is within the noise. Open
// reads every table once more than before (about a second per GiB).
//
// # Format
//
// Format is stored under x/format. Open migrates a format 1 buffer (no
// format key, no checksums) in place: each batch's checksum is computed
// from its data as it is then, and each state value is wrapped. A buffer
// of a newer format is refused with ErrNewerFormat, and left as it is.
//
// # Limits
//
// A batch's Data may be at most MaxBatchBytes (4 MiB). Badger keeps values under
// 1 MiB inline in its LSM tree, and a transaction may hold about 1.2 MiB of
// inline values (15% of the 8 MiB memtable): an Append whose data and state
// values together pass that fails with ErrTooBig and writes nothing. The
// agent's batches are at most about 1 MiB (the NATS payload limit), far inside
// both bounds. Pending data is bounded by Options.MaxBytes (ErrFull), and
// Append refuses to write when the write would leave less than
// Options.MinFreeBytes free (ErrDiskFull), because Badger can crash the process
// on a full disk. Ack and Set are not guarded: an Ack is what frees space, and
// state writes are a few bytes (a refreshed token must still be saved).
//
// # Leases
//
// Leases live in memory only. Lease hands out the oldest batches not leased;
// Release puts them back, and since the FIFO order is the seq order they are
// handed out again before any later batch. A process that dies with batches
// leased gets them all back as pending at the next Open, so a batch is
// delivered at least once; the receiver deduplicates by Batch.ID.
//
// # Memory
//
// Badger runs with a low-memory profile: two 8 MiB memtables, 8 MiB block and
// index caches, 64 MiB value-log files, 1 MiB table blocks, no compression (the
// payloads are zstd-compressed already) and none of Badger's compactors: the
// buffer compacts from its own goroutine after writes (compact.go), so an idle
// buffer wakes no thread. Values of 1 MiB or more go to the value
// log, whose space Run reclaims with RunValueLogGC. The bounds, per open
// buffer:
//
//   - memtables: at most two skiplist arenas of about 11 MiB each (a heap
//     profile of a 100k-record backfill showed the 16 MiB memtable's 21 MiB
//     arena as the agent's largest heap object; 8 MiB halves it, at the
//     cost of more, smaller level-0 tables);
//   - one table builder at a time: about 12 MiB for a level-0 table (1 MiB
//     blocks; with 4 KiB blocks it took 28 MiB, see blockSize);
//   - block cache 8 MiB and index and bloom cache 8 MiB;
//   - the in-memory index of pending batches: one entry per batch (a few
//     hundred bytes), not per record;
//   - memory-mapped table and value-log files: file-backed pages the
//     kernel may reclaim; they grow with the data not yet compacted away.
package buffer
