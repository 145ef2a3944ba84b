package buffer

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// getAll returns the state values of those keys that are present.
func getAll(t *testing.T, b *Buffer, keys ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range keys {
		v, err := b.Get(k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("Get(%s): %v", k, err)
		}
		out[k] = v
	}
	return out
}

func TestGetSet(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	if _, err := b.Get("cursor/incident"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of absent key: err = %v, want ErrNotFound", err)
	}
	for k, v := range map[string]string{
		"cursor/incident":       "2026-01-01 00:00:00|abc",
		"cursor/change_request": "2026-01-02 00:00:00|def",
		"token":                 "t0",
		"cursorless":            "x",
	} {
		if err := b.Set(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(ctx, "token", []byte("t1")); err != nil { // overwrite
		t.Fatal(err)
	}
	if err := b.Set(ctx, "empty", []byte{}); err != nil { // empty is a value, not a delete
		t.Fatal(err)
	}
	if v, err := b.Get("token"); err != nil || string(v) != "t1" {
		t.Errorf("Get(token) = %q, %v", v, err)
	}
	if v, err := b.Get("empty"); err != nil || len(v) != 0 {
		t.Errorf("Get(empty) = %q, %v", v, err)
	}
	keys := []string{"cursor/incident", "cursor/change_request", "token", "cursorless", "empty"}
	want := map[string][]byte{
		"cursor/incident":       []byte("2026-01-01 00:00:00|abc"),
		"cursor/change_request": []byte("2026-01-02 00:00:00|def"),
		"token":                 []byte("t1"),
		"cursorless":            []byte("x"),
		"empty":                 {},
	}
	if diff := cmp.Diff(want, getAll(t, b, keys...)); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if err := b.Set(ctx, "cursor/incident", nil); err != nil { // nil deletes
		t.Fatal(err)
	}
	if _, err := b.Get("cursor/incident"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after delete: err = %v, want ErrNotFound", err)
	}
	delete(want, "cursor/incident")
	if diff := cmp.Diff(want, getAll(t, b, keys...)); diff != "" {
		t.Errorf("state after deleting cursor/incident (-want +got):\n%s", diff)
	}
	if err := b.Set(ctx, "", []byte("v")); err == nil {
		t.Error("Set with empty key: no error")
	}
}

// TestAppendStateAtomic checks a batch and its state commit together, that a
// nil value deletes, and that state keys never show up as batches.
func TestAppendStateAtomic(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	if err := b.Set(ctx, "old", []byte("x")); err != nil {
		t.Fatal(err)
	}
	out, err := b.Append(ctx, Batch{Label: "incident", Data: []byte("d")},
		map[string][]byte{"cursor/incident": []byte("c1"), "old": nil})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]byte{"cursor/incident": []byte("c1")}, getAll(t, b, "cursor/incident", "old")); diff != "" {
		t.Errorf("state after Append (-want +got):\n%s", diff)
	}
	leased, err := leaseNow(b, 10)
	if err != nil || len(leased) != 1 || leased[0].Seq != out.Seq {
		t.Errorf("Lease = %v, %v; want only batch %d", seqs(leased), err, out.Seq)
	}
}
