package buffer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// appendN appends n batches labelled "t<i>" with i records and 100*(i+1)
// bytes of data, and returns them.
func appendN(t *testing.T, b *Buffer, n int) []Batch {
	t.Helper()
	var out []Batch
	for i := range n {
		got, err := b.Append(t.Context(), Batch{Label: fmt.Sprintf("t%d", i), Records: i, Data: payload(byte(i), 100*(i+1))}, nil)
		if err != nil {
			t.Fatalf("Append #%d: %v", i, err)
		}
		out = append(out, got)
	}
	return out
}

func seqs(bs []Batch) []uint64 {
	out := []uint64{}
	for _, b := range bs {
		out = append(out, b.Seq)
	}
	return out
}

func TestAppendAssignsSeqIDCreated(t *testing.T) {
	clock := newFakeClock()
	b := openTest(t, Options{Now: clock.Now})
	var got []Batch
	for i := range 3 {
		in := Batch{Seq: 99, ID: "ignored", Created: time.Unix(1, 0), Label: "incident", Records: i + 1, Data: []byte{byte(i)}}
		out, err := b.Append(t.Context(), in, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out)
		clock.Advance(time.Second)
	}
	var want []Batch
	for i := range 3 {
		seq := uint64(i + 1)
		want = append(want, Batch{Seq: seq, ID: fmt.Sprintf("%s-%016x", b.instance, seq), Label: "incident",
			Records: i + 1, Created: newFakeClock().Now().Add(time.Duration(i) * time.Second), Data: []byte{byte(i)}})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Append results (-want +got):\n%s", diff)
	}
	leased, err := leaseNow(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, leased); diff != "" {
		t.Errorf("Lease (-want +got):\n%s", diff)
	}
}

func TestLeaseNowAndReleaseOrder(t *testing.T) {
	b := openTest(t, Options{})
	appendN(t, b, 5)
	step := func(name string, max int, want []uint64) {
		t.Helper()
		got, err := leaseNow(b, max)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, seqs(got)); diff != "" {
			t.Errorf("%s: leased seqs (-want +got):\n%s", name, diff)
		}
	}
	step("first two", 2, []uint64{1, 2})
	step("next two", 2, []uint64{3, 4})
	b.Release(3, 1) // out of order on purpose
	step("released come back in FIFO order before 5", 10, []uint64{1, 3, 5})
	step("nothing left", 10, []uint64{})
	b.Release(2, 2, 42) // duplicates and unknown seqs are ignored
	if err := b.Ack(t.Context(), 1, 3); err != nil {
		t.Fatal(err)
	}
	b.Release(1) // acked: ignored
	step("after ack", 10, []uint64{2})
	step("2 is handed out once; 4 and 5 stay leased", 10, []uint64{})
	if _, err := leaseNow(b, 0); err == nil {
		t.Error("Lease(0): no error")
	}
}

func TestAckIdempotent(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	appendN(t, b, 3)
	for _, s := range [][]uint64{{2}, {2, 2}, {7, 2, 0}, {}} {
		if err := b.Ack(ctx, s...); err != nil {
			t.Errorf("Ack(%v): %v", s, err)
		}
	}
	got, err := leaseNow(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 3}, seqs(got)); diff != "" {
		t.Errorf("after acking 2 (-want +got):\n%s", diff)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Ack(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Ack with cancelled ctx: %v", err)
	}
}

func TestLeaseBlocksUntilAppend(t *testing.T) {
	b := openTest(t, Options{})
	type result struct {
		bs  []Batch
		err error
	}
	res := make(chan result, 1)
	go func() {
		bs, err := b.Lease(t.Context(), 4)
		res <- result{bs, err}
	}()
	select {
	case r := <-res:
		t.Fatalf("Lease on an empty buffer returned %v, %v", r.bs, r.err)
	default:
	}
	appendN(t, b, 1)
	r := <-res
	if r.err != nil || len(r.bs) != 1 || r.bs[0].Seq != 1 {
		t.Fatalf("Lease woken by Append = %v, %v", seqs(r.bs), r.err)
	}

	// All leased: a Release wakes a waiting Lease too.
	go func() {
		bs, err := b.Lease(t.Context(), 4)
		res <- result{bs, err}
	}()
	b.Release(1)
	r = <-res
	if r.err != nil || len(r.bs) != 1 || r.bs[0].Seq != 1 {
		t.Fatalf("Lease woken by Release = %v, %v", seqs(r.bs), r.err)
	}
}

func TestLeaseReturnsOnCancelAndClose(t *testing.T) {
	b, err := Open(Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 2)
	go func() { _, err := b.Lease(ctx, 1); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Lease after cancel: %v, want context.Canceled", err)
	}
	go func() { _, err := b.Lease(t.Context(), 1); errc <- err }()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Lease after Close: %v, want ErrClosed", err)
	}
}

func TestStats(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	b := openTest(t, Options{MaxBytes: 1 << 20, Now: clock.Now})
	b.statfs = fixedFree(12345 << 20)
	if diff := cmp.Diff(Stats{MaxBytes: 1 << 20, FreeDisk: 12345 << 20}, b.Stats()); diff != "" {
		t.Errorf("empty Stats (-want +got):\n%s", diff)
	}
	if !b.Empty() {
		t.Error("Empty() = false on a new buffer")
	}
	start := clock.Now()
	for i := range 4 {
		if _, err := b.Append(ctx, Batch{Records: 10 * (i + 1), Data: make([]byte, 1000*(i+1))}, nil); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if _, err := leaseNow(b, 2); err != nil {
		t.Fatal(err)
	}
	want := Stats{PendingBatches: 4, PendingRecords: 100, PendingBytes: 10000, MaxBytes: 1 << 20,
		Oldest: start, FreeDisk: 12345 << 20, LastSeq: 4}
	if diff := cmp.Diff(want, b.Stats()); diff != "" {
		t.Errorf("Stats after 4 appends, 2 leased (-want +got):\n%s", diff)
	}
	if err := b.Ack(ctx, 1, 3); err != nil {
		t.Fatal(err)
	}
	want = Stats{PendingBatches: 2, PendingRecords: 60, PendingBytes: 6000, MaxBytes: 1 << 20,
		Oldest: start.Add(time.Minute), FreeDisk: 12345 << 20, LastSeq: 4}
	if diff := cmp.Diff(want, b.Stats()); diff != "" {
		t.Errorf("Stats after acking 1 and 3 (-want +got):\n%s", diff)
	}
	if got, err := leaseNow(b, 10); err != nil || !slices.Equal(seqs(got), []uint64{4}) {
		t.Errorf("Lease after acking 1 and 3 = %v, %v; want only 4 (2 is still leased)", seqs(got), err)
	}
	if err := b.Ack(ctx, 2, 4); err != nil {
		t.Fatal(err)
	}
	want = Stats{MaxBytes: 1 << 20, FreeDisk: 12345 << 20, LastSeq: 4}
	if diff := cmp.Diff(want, b.Stats()); diff != "" {
		t.Errorf("Stats after acking all (-want +got):\n%s", diff)
	}
	if !b.Empty() {
		t.Error("Empty() = false after acking all")
	}
}

func TestSizeBound(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := Open(Options{Dir: dir, MaxBytes: 10 << 10, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b.statfs = plentyFree
	for i := range 2 {
		if _, err := b.Append(ctx, Batch{Data: payload(byte(i), 4<<10)}, map[string][]byte{"cursor": {byte(i)}}); err != nil {
			t.Fatalf("Append #%d: %v", i, err)
		}
	}
	_, err = b.Append(ctx, Batch{Data: payload(9, 4<<10)}, map[string][]byte{"cursor": {9}})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("third 4 KiB Append with a 10 KiB bound: err = %v, want ErrFull", err)
	}
	if v, err := b.Get("cursor"); err != nil || v[0] != 1 {
		t.Errorf("cursor after ErrFull = %v, %v; want [1] (untouched)", v, err)
	}
	// Exactly filling the bound is fine.
	if _, err := b.Append(ctx, Batch{Data: payload(2, 2<<10)}, nil); err != nil {
		t.Fatalf("Append up to the bound: %v", err)
	}
	if _, err := b.Append(ctx, Batch{Data: []byte{1}}, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past a full bound: err = %v, want ErrFull", err)
	}
	// Restart: the bound holds, since pending bytes are rebuilt at Open.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, Options{Dir: dir, MaxBytes: 10 << 10})
	if got := b.Stats().PendingBytes; got != 10<<10 {
		t.Errorf("PendingBytes after reopen = %d, want %d", got, 10<<10)
	}
	if _, err := b.Append(ctx, Batch{Data: []byte{1}}, nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Append after reopen: err = %v, want ErrFull", err)
	}
	got, err := leaseNow(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantData := [][]byte{payload(0, 4<<10), payload(1, 4<<10), payload(2, 2<<10)}
	var gotData [][]byte
	for _, g := range got {
		gotData = append(gotData, g.Data)
	}
	if !cmp.Equal(wantData, gotData) {
		t.Fatalf("buffered batches changed: %d batches, seqs %v", len(got), seqs(got))
	}
	// Acks make room again.
	if err := b.Ack(ctx, got[0].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, Batch{Data: payload(9, 4<<10)}, nil); err != nil {
		t.Fatalf("Append after Ack freed room: %v", err)
	}
}

func TestRestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clock := newFakeClock()
	b, err := Open(Options{Dir: dir, Logger: testLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.statfs = plentyFree
	instance := b.instance
	all := appendN(t, b, 5)
	if err := b.Set(ctx, "token", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := leaseNow(b, 3); err != nil { // 1, 2, 3 leased
		t.Fatal(err)
	}
	if err := b.Ack(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, Options{Dir: dir, Now: clock.Now})
	if b.instance != instance {
		t.Errorf("instance changed across restart: %q then %q", instance, b.instance)
	}
	got, err := leaseNow(b, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Batch{all[0], all[2], all[3], all[4]} // leased-unacked 1 and 3 are back; 2 is gone
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batches after restart (-want +got):\n%s", diff)
	}
	if v, err := b.Get("token"); err != nil || string(v) != "secret" {
		t.Errorf("state after restart = %q, %v", v, err)
	}
	if err := b.Ack(ctx, 1, 3, 4, 5); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Every batch acked: the seq still never goes back.
	b = openTest(t, Options{Dir: dir})
	if s := b.Stats(); s.LastSeq != 5 || s.PendingBatches != 0 {
		t.Errorf("Stats after reopening an empty buffer = %+v", s)
	}
	next, err := b.Append(ctx, Batch{Data: []byte("n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.Seq != 6 || next.ID != fmt.Sprintf("%s-%016x", instance, 6) {
		t.Errorf("next batch = seq %d id %q, want seq 6 with instance %s", next.Seq, next.ID, instance)
	}
}

// TestConcurrentAppendLeaseAck runs one appender against one forwarder, the
// agent's shape, and checks every batch is delivered once, in order.
func TestConcurrentAppendLeaseAck(t *testing.T) {
	const n = 200
	b := openTest(t, Options{MaxBytes: 64 << 10})
	ctx := t.Context()
	var wg sync.WaitGroup
	appendErr := make(chan error, 1)
	progress := make(chan struct{}, 1)
	wg.Go(func() {
		for i := 0; i < n; {
			_, err := b.Append(ctx, Batch{Records: 1, Data: payload(byte(i), 1<<10)}, map[string][]byte{"cursor": fmt.Appendf(nil, "%d", i)})
			if errors.Is(err, ErrFull) {
				select { // the poller pauses until the forwarder made room
				case <-progress:
				case <-ctx.Done():
					appendErr <- ctx.Err()
					return
				}
				continue
			}
			if err != nil {
				appendErr <- err
				return
			}
			i++
		}
		appendErr <- nil
	})
	var delivered []uint64
	for len(delivered) < n {
		bs, err := b.Lease(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range bs {
			if !bytes.Equal(x.Data, payload(byte(x.Seq-1), 1<<10)) {
				t.Fatalf("batch %d: data mismatch", x.Seq)
			}
		}
		if err := b.Ack(ctx, seqs(bs)...); err != nil {
			t.Fatal(err)
		}
		delivered = append(delivered, seqs(bs)...)
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	wg.Wait()
	if err := <-appendErr; err != nil {
		t.Fatal(err)
	}
	for i, s := range delivered {
		if s != uint64(i+1) {
			t.Fatalf("delivery #%d is seq %d", i, s)
		}
	}
	if v, err := b.Get("cursor"); err != nil || string(v) != fmt.Sprint(n-1) {
		t.Errorf("cursor = %q, %v", v, err)
	}
	if !b.Empty() {
		t.Errorf("not empty: %+v", b.Stats())
	}
}

// leaseNow leases what is pending now, without waiting: Lease with a done
// context.
func leaseNow(b *Buffer, max int) ([]Batch, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	batches, err := b.Lease(ctx, max)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return batches, err
}
