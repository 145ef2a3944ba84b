package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rawSet writes a key as it is on disk, behind the buffer's back: the way
// a bad sector that Badger's own checksums cannot see would change it.
func rawSet(t *testing.T, b *Buffer, key, val []byte) {
	t.Helper()
	if err := b.db.Update(func(txn *badger.Txn) error { return txn.Set(key, val) }); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedBatchIsRepairedNotLeased: a batch whose data no longer
// matches its checksum is never handed out; it is removed and its range
// becomes a pending repair, which survives a restart until resolved.
func TestDamagedBatchIsRepairedNotLeased(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, Options{Dir: dir})
	rng := Range{Table: "sys_user", From: "a", To: "b"}
	first, err := b.Append(ctx, Batch{Label: "sys_user", Records: 2, Data: payload(1, 300), Range: rng}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Append(ctx, Batch{Label: "incident", Records: 1, Data: payload(2, 100), Range: Range{Table: "incident", From: "c", To: "d"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := payload(1, 300)
	bad[150] ^= 0x40
	rawSet(t, b, seqKey(prefixData, first.Seq), bad)
	woken := 0
	b.OnRepair(func() { woken++ })

	got, err := leaseNow(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != second.Seq {
		t.Fatalf("leased %d batches (%v), want only the intact batch %d", len(got), seqsOfBatches(got), second.Seq)
	}
	reps := b.Repairs()
	if len(reps) != 1 || reps[0].Range != rng || !strings.Contains(reps[0].Reason, "checksum") {
		t.Fatalf("Repairs() = %+v, want one of %+v", reps, rng)
	}
	if woken != 1 {
		t.Errorf("OnRepair called %d times, want 1", woken)
	}
	st := b.RepairStats()
	if st.Total != 1 || st.Pending != 1 || st.Last == nil || st.Last.Range != rng {
		t.Errorf("RepairStats() = %+v", st)
	}
	if s := b.Stats(); s.PendingBatches != 1 || s.PendingRecords != 1 {
		t.Errorf("the damaged batch is still counted: %+v", s)
	}

	// The repair is durable: a restart still knows it, and the damaged
	// batch stays gone.
	b.Close()
	b = openTest(t, Options{Dir: dir})
	if diff := cmp.Diff(reps, b.Repairs(), cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("repairs after restart (-want +got):\n%s", diff)
	}
	if err := b.ResolveRepairs(ctx, reps[0].ID); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTest(t, Options{Dir: dir})
	if r := b.Repairs(); len(r) != 0 {
		t.Errorf("resolved repairs came back: %+v", r)
	}
	if st := b.RepairStats(); st.Total != 1 || st.Pending != 0 {
		t.Errorf("RepairStats() after resolve = %+v, want total 1, none pending", st)
	}
}

// TestMissingDataIsRepaired: metadata whose data is gone is a lost batch,
// not a batch to forget.
func TestMissingDataIsRepaired(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, Options{})
	rng := Range{Table: "incident", From: "x", To: "y"}
	in, err := b.Append(ctx, Batch{Label: "incident", Records: 1, Data: payload(3, 10), Range: rng}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.db.Update(func(txn *badger.Txn) error { return txn.Delete(seqKey(prefixData, in.Seq)) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := leaseNow(b, 1); len(got) != 0 {
		t.Fatalf("leased %v", seqsOfBatches(got))
	}
	if r := b.Repairs(); len(r) != 1 || r[0].Range != rng {
		t.Fatalf("Repairs() = %+v", r)
	}
}

// TestDamagedMetaAtOpen: metadata that fails its own checksum loses the
// batch's range, so the repair covers every table.
func TestDamagedMetaAtOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, Options{Dir: dir})
	in, err := b.Append(ctx, Batch{Label: "incident", Records: 1, Data: payload(3, 10), Range: Range{Table: "incident"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := encodeMeta(&entry{seq: in.Seq, label: "incident", records: 1, size: 10, sum: checksum(payload(3, 10))})
	meta[3] ^= 1
	rawSet(t, b, seqKey(prefixMeta, in.Seq), meta)
	b.Close()
	b = openTest(t, Options{Dir: dir})
	if !b.Empty() {
		t.Error("a batch with damaged metadata is still queued")
	}
	r := b.Repairs()
	if len(r) != 1 || r[0].Range != (Range{}) {
		t.Fatalf("Repairs() = %+v, want one repair of every table", r)
	}
	if next, _ := b.Append(ctx, Batch{Label: "x", Data: []byte("y")}, nil); next.Seq <= in.Seq {
		t.Errorf("seq %d reused after the damaged batch %d", next.Seq, in.Seq)
	}
}

// TestDamagedState: a state value failing its checksum is an error
// wrapping ErrDamaged, never wrong bytes.
func TestDamagedState(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, Options{})
	if err := b.Set(ctx, "cursor/incident", []byte(`{"time":"2026-01-01 00:00:00"}`)); err != nil {
		t.Fatal(err)
	}
	raw := encodeState([]byte(`{"time":"2026-01-01 00:00:00"}`))
	raw[10] = '9'
	rawSet(t, b, stateKey("cursor/incident"), raw)
	if v, err := b.Get("cursor/incident"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Get of a damaged value = %q, %v; want ErrDamaged", v, err)
	}
	rawSet(t, b, stateKey("short"), []byte{2, 0})
	if _, err := b.Get("short"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Get of a truncated value: %v; want ErrDamaged", err)
	}
}

// TestAckedRange: the ranges of acked batches are remembered, across a
// restart, for a relay that finds a batch undecodable after the ack.
func TestAckedRange(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, Options{Dir: dir})
	rng := Range{Table: "incident", From: "1", To: "2"}
	in, err := b.Append(ctx, Batch{Label: "incident", Records: 1, Data: payload(3, 10), Range: rng}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(ctx, in.Seq); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTest(t, Options{Dir: dir})
	got, seq, ok := b.AckedRange(in.ID)
	if !ok || got != rng || seq != in.Seq {
		t.Errorf("AckedRange(%s) = %+v, %d, %v; want %+v", in.ID, got, seq, ok, rng)
	}
	if _, _, ok := b.AckedRange("0000000000000000-" + in.ID[17:]); ok {
		t.Error("AckedRange accepted another instance's id")
	}
}

// TestAckedRangeBounded: only the last maxAcked ranges are kept.
func TestAckedRangeBounded(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, Options{})
	var ids []string
	for i := range maxAcked + 10 {
		in, err := b.Append(ctx, Batch{Label: "t", Data: []byte{byte(i)}, Range: Range{Table: "t", From: "f"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
		if i%100 == 99 || i == maxAcked+9 {
			got, _ := leaseNow(b, 1000)
			if err := b.Ack(ctx, seqsOfBatches(got)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, ok := b.AckedRange(ids[0]); ok {
		t.Error("the oldest acked range is still kept")
	}
	if _, _, ok := b.AckedRange(ids[len(ids)-1]); !ok {
		t.Error("the newest acked range is lost")
	}
	n := 0
	b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixAcked})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if n != maxAcked {
		t.Errorf("%d acked-range records on disk, want %d", n, maxAcked)
	}
}

// writeFormat1 writes, by hand, a buffer as the format 1 code wrote it:
// no format key, version 1 metadata without checksum or range, bare state
// values.
func writeFormat1(t *testing.T, dir string, data []byte) {
	t.Helper()
	db, err := badger.Open(badgerOptions(Options{Dir: dir, Logger: testLogger(t)}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(txn *badger.Txn) error {
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], 7)
		meta := []byte{metaV1}
		meta = binary.AppendVarint(meta, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).UnixNano())
		meta = binary.AppendUvarint(meta, 3)
		meta = binary.AppendUvarint(meta, uint64(len(data)))
		meta = append(meta, "incident"...)
		for k, v := range map[string][]byte{
			"x/instance":            []byte("0123456789abcdef"),
			"x/seq":                 seq[:],
			"q/m/" + string(seq[:]): meta,
			"q/d/" + string(seq[:]): data,
			"s/cursor/incident":     []byte(`{"time":"2026-01-01 10:00:00","sys_id":"abc"}`),
			"s/token":               []byte("t"),
		} {
			if err := txn.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFormat1: a buffer of the previous format is migrated in
// place; its batch, cursor and seq survive, and it opens again as Format.
func TestMigrateFormat1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := payload(9, 5000)
	writeFormat1(t, dir, data)
	b := openTest(t, Options{Dir: dir})
	got, err := leaseNow(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != 7 || got[0].ID != "0123456789abcdef-0000000000000007" ||
		got[0].Label != "incident" || got[0].Records != 3 || !cmp.Equal(got[0].Data, data) {
		t.Fatalf("migrated batch: %+v", got)
	}
	if v, err := b.Get("cursor/incident"); err != nil || string(v) != `{"time":"2026-01-01 10:00:00","sys_id":"abc"}` {
		t.Errorf("migrated cursor = %q, %v", v, err)
	}
	if r := b.Repairs(); len(r) != 0 {
		t.Errorf("migration reported damage: %+v", r)
	}
	next, err := b.Append(ctx, Batch{Label: "x", Data: []byte("y")}, nil)
	if err != nil || next.Seq != 8 {
		t.Errorf("Append after migration: seq %d, %v; want 8", next.Seq, err)
	}
	b.Close()
	b = openTest(t, Options{Dir: dir})
	if v, err := b.Get("token"); err != nil || string(v) != "t" {
		t.Errorf("state after a second open = %q, %v (migrated twice?)", v, err)
	}
	var f int
	b.db.View(func(txn *badger.Txn) (err error) { f, err = readFormat(txn); return err })
	if f != Format {
		t.Errorf("format after migration = %d, want %d", f, Format)
	}
}

// TestNewerFormatRefused: a buffer written by a newer agent is left alone
// with a message that says what to do.
func TestNewerFormatRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badgerOptions(Options{Dir: dir, Logger: testLogger(t)}))
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(txn *badger.Txn) error {
		txn.Set(keyInstance, []byte("0123456789abcdef"))
		return txn.Set(keyFormat, []byte("3"))
	})
	db.Close()
	_, err = Open(Options{Dir: dir, Logger: testLogger(t)})
	if !errors.Is(err, ErrNewerFormat) || errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a format 3 buffer: %v; want ErrNewerFormat, not damage", err)
	}
	for _, want := range []string{"format is 3", "up to 2", dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestUnopenableIsDamaged: a table file with damaged bytes makes Open fail
// with ErrDamaged (Badger verifies tables at open); the buffer moves aside
// and a fresh one opens in its place. A locked buffer is not damage.
func TestUnopenableIsDamaged(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "buffer")
	b, err := Open(Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b.statfs = plentyFree
	if _, err := Open(Options{Dir: dir, Logger: testLogger(t)}); err == nil || errors.Is(err, ErrDamaged) {
		t.Errorf("second Open of a locked buffer: %v; want an error that is not damage", err)
	}
	for i := range 20 {
		if _, err := b.Append(ctx, Batch{Label: "t", Data: payload(byte(i), 20000)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.db.Flatten(1); err != nil { // push the memtable into a table file
		t.Fatal(err)
	}
	b.Close()
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table file written")
	}
	f, err := os.OpenFile(ssts[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 48), 4096)
	f.Close()
	if _, err := Open(Options{Dir: dir, Logger: testLogger(t)}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a damaged table: %v; want ErrDamaged", err)
	}
	moved, err := MoveAside(dir, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + ".damaged-20260304T050607Z"; moved != want {
		t.Errorf("moved to %s, want %s", moved, want)
	}
	if list, _ := MovedAside(dir); len(list) != 1 || list[0] != moved {
		t.Errorf("MovedAside = %v", list)
	}
	fresh := openTest(t, Options{Dir: dir})
	if !fresh.Empty() {
		t.Error("the fresh buffer is not empty")
	}
}

func seqsOfBatches(bs []Batch) []uint64 {
	out := make([]uint64, len(bs))
	for i, b := range bs {
		out[i] = b.Seq
	}
	return out
}

// TestMirrorOutlivesMoveAside: the mirrored state keys (the agent's
// confirmations) seed the fresh buffer made after a damaged one was moved
// aside; other keys do not come back.
func TestMirrorOutlivesMoveAside(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "buffer")
	b := openTest(t, Options{Dir: dir, Mirror: "confirmed/"})
	b.Set(ctx, "confirmed/incident", []byte(`{"u":"2026-01-01 00:00:00"}`))
	b.Set(ctx, "confirmed/sys_user", []byte(`x`))
	b.Set(ctx, "confirmed/sys_user", nil)
	b.Set(ctx, "cursor/incident", []byte(`c`))
	b.Close()
	if _, err := MoveAside(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, Options{Dir: dir, Mirror: "confirmed/"})
	if v, err := b.Get("confirmed/incident"); err != nil || string(v) != `{"u":"2026-01-01 00:00:00"}` {
		t.Errorf("confirmation after move-aside = %q, %v", v, err)
	}
	for _, k := range []string{"confirmed/sys_user", "cursor/incident"} {
		if v, err := b.Get(k); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s came back: %q, %v", k, v, err)
		}
	}
	// A damaged mirror is ignored, not trusted.
	b.Close()
	os.WriteFile(dir+".mirror.json", []byte(`{"values":{"confirmed/incident":"zzz"},"crc32c":1}`), 0o600)
	os.RemoveAll(dir)
	b = openTest(t, Options{Dir: dir, Mirror: "confirmed/"})
	if v, err := b.Get("confirmed/incident"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a damaged mirror was trusted: %q, %v", v, err)
	}
}

// TestVerify reports every damaged batch with the range that will be read
// again, and damaged state values, and changes nothing.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, Options{})
	rng := Range{Table: "sys_user", From: "a", To: "b"}
	var seqs []uint64
	for i := range 3 {
		in, err := b.Append(ctx, Batch{Label: "sys_user", Records: 1, Data: payload(byte(i), 1000), Range: rng}, map[string][]byte{"k": []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, in.Seq)
	}
	rep, err := b.Verify(ctx)
	if err != nil || rep.Batches != 3 || rep.Bytes != 3000 || rep.StateKeys != 1 || len(rep.Damaged) != 0 {
		t.Fatalf("Verify of an intact buffer = %+v, %v", rep, err)
	}
	rawSet(t, b, seqKey(prefixData, seqs[1]), payload(9, 1000))
	rawSet(t, b, stateKey("k"), []byte{2, 0, 0, 0, 0, 'v'})
	rep, err = b.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damaged) != 2 || len(rep.Reread) != 1 || rep.Reread[0] != rng || rep.Bytes != 2000 {
		t.Errorf("Verify = %+v", rep)
	}
	if s := b.Stats(); s.PendingBatches != 3 || len(b.Repairs()) != 0 {
		t.Errorf("Verify changed the buffer: %+v, repairs %v", s, b.Repairs())
	}
}
