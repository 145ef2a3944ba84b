package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSplitJoinRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	body := make([]byte, 3*MaxPayload+17)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	set, parts, err := Split(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 4 || !ValidPartSet(set) || set != PartSetID(body) {
		t.Fatalf("Split = %s, %d parts", set, len(parts))
	}
	for i, p := range parts {
		if len(p) > MaxPayload {
			t.Errorf("part %d of %d bytes", i+1, len(p))
		}
	}
	got, err := Join(set, parts)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Join = %d bytes, %v", len(got), err)
	}
	// Parts out of order or one changed: refused.
	if _, err := Join(set, [][]byte{parts[1], parts[0], parts[2], parts[3]}); err == nil {
		t.Error("Join accepted parts out of order")
	}
	// A body that fits one message is not split; one past the set limit is refused.
	if _, _, err := Split(body[:MaxPayload]); err == nil {
		t.Error("Split cut a body that fits one message")
	}
	if _, _, err := Split(make([]byte, MaxPartSetBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Split(too large) = %v, want ErrTooLarge", err)
	}
}

func TestParsePartAndLabel(t *testing.T) {
	set := strings.Repeat("ab", 32)
	if _, ok, err := ParsePart("", ""); ok || err != nil {
		t.Errorf("no headers: ok %v, %v", ok, err)
	}
	for _, bad := range [][2]string{{"1", set}, {"0/2", set}, {"3/2", set}, {"1/1", set}, {"a/b", set},
		{"1/99999", set}, {"1/2", "ABC"}, {"", set}, {"1/2", ""}, {"-1/2", set}} {
		if _, ok, err := ParsePart(bad[0], bad[1]); !ok || err == nil {
			t.Errorf("ParsePart(%q, %q): ok %v, err %v; want an error", bad[0], bad[1], ok, err)
		}
	}
	p := Part{Set: set, Index: 2, Count: 5}
	table, got, ok, err := ParseLabel(PartLabel("sys_journal_field", p))
	if table != "sys_journal_field" || got != p || !ok || err != nil {
		t.Errorf("ParseLabel = %q %+v %v %v", table, got, ok, err)
	}
	if table, _, ok, err := ParseLabel("incident"); table != "incident" || ok || err != nil {
		t.Errorf("ParseLabel(incident) = %q %v %v", table, ok, err)
	}
	if _, _, _, err := ParseLabel("incident#zz#1/2"); err == nil {
		t.Error("ParseLabel accepted a bad set id")
	}
}
