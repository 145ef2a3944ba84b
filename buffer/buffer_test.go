package buffer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOpenProfile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "buffer")
	b := openTest(t, Options{Dir: dir})
	o := b.db.Opts()
	got := map[string]any{
		"SyncWrites":       o.SyncWrites,
		"MemTableSize":     o.MemTableSize,
		"NumMemtables":     o.NumMemtables,
		"BlockCacheSize":   o.BlockCacheSize,
		"IndexCacheSize":   o.IndexCacheSize,
		"ValueLogFileSize": o.ValueLogFileSize,
		"NumCompactors":    o.NumCompactors,
		"ValueThreshold":   o.ValueThreshold,
		"BlockSize":        o.BlockSize,
	}
	want := map[string]any{
		"SyncWrites":       true,
		"MemTableSize":     int64(8 << 20),
		"NumMemtables":     2,
		"BlockCacheSize":   int64(8 << 20),
		"IndexCacheSize":   int64(8 << 20),
		"ValueLogFileSize": int64(64 << 20),
		"NumCompactors":    0,
		"ValueThreshold":   int64(1 << 20),
		"BlockSize":        1 << 20,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("badger options (-want +got):\n%s", diff)
	}
	// Badger limits a transaction to 15% of the memtable; the value
	// threshold must stay below it or no transaction could hold a value.
	if o.ValueThreshold > 15*o.MemTableSize/100 {
		t.Errorf("ValueThreshold %d > 15%% of MemTableSize %d", o.ValueThreshold, o.MemTableSize)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("dir mode = %v, want 0700", perm)
	}
	if len(b.instance) != 16 {
		t.Errorf("instance = %q, want 16 hex digits", b.instance)
	}
	s := b.Stats()
	if s.MaxBytes != DefaultMaxBytes || b.opts.MinFreeBytes != DefaultMinFreeBytes || b.opts.GCInterval != DefaultGCInterval {
		t.Errorf("defaults not applied: MaxBytes %d MinFreeBytes %d GCInterval %v", s.MaxBytes, b.opts.MinFreeBytes, b.opts.GCInterval)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("Open with no Dir: no error")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(Options{Dir: filepath.Join(file, "sub")})
	if err == nil {
		t.Error("Open under a file: no error")
	}
	if err := b.Close(); err != nil { // safe after a failed Open
		t.Errorf("Close after failed Open: %v", err)
	}

	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	b2, err := Open(Options{Dir: dir})
	if err == nil {
		b2.Close()
		t.Fatal("second Open of a locked dir: no error")
	}
}

func TestCloseIdempotentAndErrClosed(t *testing.T) {
	ctx := t.Context()
	b, err := Open(Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, Batch{Data: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	checks := map[string]error{}
	_, checks["Append"] = b.Append(ctx, Batch{}, nil)
	_, checks["Lease"] = leaseNow(b, 1)
	_, checks["Lease"] = b.Lease(ctx, 1)
	checks["Ack"] = b.Ack(ctx, 1)
	_, checks["Get"] = b.Get("k")
	checks["Set"] = b.Set(ctx, "k", nil)
	checks["Run"] = b.Run(ctx)
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	b.Release(1) // must not panic
	if s := b.Stats(); s.PendingBatches != 1 {
		t.Errorf("Stats after Close: %+v", s)
	}
}

func TestDiskFull(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	b.statfs = fixedFree(100 << 20) // 100 MiB free, default guard is 256 MiB
	_, err := b.Append(ctx, Batch{Data: []byte("x")}, map[string][]byte{"cursor": []byte("1")})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Append with 100 MiB free: err = %v, want ErrDiskFull", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(100<<20)) || !strings.Contains(err.Error(), fmt.Sprint(256<<20)) {
		t.Errorf("error %q does not name the figures", err)
	}
	if _, err := b.Get("cursor"); !errors.Is(err, ErrNotFound) {
		t.Errorf("state written despite ErrDiskFull: %v", err)
	}
	if s := b.Stats(); s.FreeDisk != 100<<20 || s.LastSeq != 0 || s.PendingBatches != 0 {
		t.Errorf("Stats = %+v", s)
	}
	// Just enough room for the guard and the batch itself.
	b.statfs = fixedFree(DefaultMinFreeBytes + 10)
	if _, err := b.Append(ctx, Batch{Data: make([]byte, 11)}, nil); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Append leaving less than the guard: err = %v, want ErrDiskFull", err)
	}
	if _, err := b.Append(ctx, Batch{Data: make([]byte, 10)}, nil); err != nil {
		t.Errorf("Append leaving exactly the guard: %v", err)
	}
}

func TestDiskFullRealStatfs(t *testing.T) {
	b, err := Open(Options{Dir: t.TempDir(), MinFreeBytes: math.MaxUint64, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Append(t.Context(), Batch{Data: []byte("x")}, nil); !errors.Is(err, ErrDiskFull) {
		t.Errorf("Append with an impossible guard: err = %v, want ErrDiskFull", err)
	}
	if free := b.Stats().FreeDisk; free == 0 {
		t.Error("Stats.FreeDisk = 0 from the real filesystem")
	}
}

func TestTooBig(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{MaxBytes: 64 << 20})
	if _, err := b.Append(ctx, Batch{Data: make([]byte, MaxBatchBytes+1)}, nil); !errors.Is(err, ErrTooBig) {
		t.Errorf("Append of MaxBatchBytes+1: err = %v, want ErrTooBig", err)
	}
	// State values inline in the LSM count against Badger's transaction limit.
	big := map[string][]byte{"a": make([]byte, 900<<10), "b": make([]byte, 900<<10), "c": make([]byte, 900<<10)}
	if _, err := b.Append(ctx, Batch{Data: make([]byte, 900<<10)}, big); !errors.Is(err, ErrTooBig) {
		t.Errorf("Append with 3.5 MiB inline: err = %v, want ErrTooBig", err)
	}
	if s := b.Stats(); s.LastSeq != 0 || s.PendingBatches != 0 {
		t.Errorf("after rejected Appends, Stats = %+v", s)
	}
	if m := getAll(t, b, "a", "b", "c"); len(m) != 0 {
		t.Errorf("after rejected Appends, state holds %d of their keys", len(m))
	}
	data := payload(3, MaxBatchBytes)
	got, err := b.Append(ctx, Batch{Data: data}, map[string][]byte{"cursor": []byte("c")})
	if err != nil {
		t.Fatalf("Append of MaxBatchBytes: %v", err)
	}
	leased, err := leaseNow(b, 1)
	if err != nil || len(leased) != 1 || leased[0].Seq != got.Seq || !bytes.Equal(leased[0].Data, data) {
		t.Fatalf("Lease after big Append: %d batches, %v", len(leased), err)
	}

	small := openTest(t, Options{MaxBytes: 10})
	if _, err := small.Append(ctx, Batch{Data: make([]byte, 11)}, nil); !errors.Is(err, ErrTooBig) {
		t.Errorf("batch larger than MaxBytes: err = %v, want ErrTooBig", err)
	}
}

func TestAppendValidation(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	cases := []struct {
		name  string
		in    Batch
		state map[string][]byte
	}{
		{"negative records", Batch{Records: -1}, nil},
		{"long label", Batch{Label: strings.Repeat("x", maxKeyBytes+1)}, nil},
		{"empty state key", Batch{}, map[string][]byte{"": []byte("v")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Append(ctx, tc.in, tc.state); err == nil {
				t.Error("no error")
			}
		})
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Append(cctx, Batch{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with cancelled ctx: %v", err)
	}
	if s := b.Stats(); s.LastSeq != 0 {
		t.Errorf("LastSeq = %d after rejected Appends", s.LastSeq)
	}
}

func TestRunGC(t *testing.T) {
	clock := newFakeClock()
	b := openTest(t, Options{GCInterval: time.Millisecond, Now: clock.Now})
	// Values of 1 MiB and more live in the value log that GC works on.
	for i := range 3 {
		if _, err := b.Append(t.Context(), Batch{Data: payload(byte(i), 1<<20)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	checkFor(t, 5*time.Second, time.Millisecond, func() error {
		if got := b.Stats().LastGC; !got.Equal(clock.Now()) {
			return fmt.Errorf("LastGC = %v", got)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

func TestRunStopsOnClose(t *testing.T) {
	b, err := Open(Options{Dir: t.TempDir(), Logger: testLogger(t), GCInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(t.Context()) }()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
}
