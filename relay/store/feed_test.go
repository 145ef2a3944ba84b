package store_test

import (
	"errors"
	"testing"

	"github.com/sei-edge/servicenow-edge/relay/store"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// FuzzParseFeedPosition feeds ParseFeedPosition what a client may send: it
// must never panic, must fail only with ErrBadPosition, and a position it
// accepts must name a valid tenant and round-trip.
func FuzzParseFeedPosition(f *testing.F) {
	f.Add(store.FeedPosition{Epoch: "0123456789abcdef", Tenant: "acme", Seq: 42}.String())
	f.Add("p1.")
	f.Add("p1.WyIiLCIiLDBd")
	f.Add("p1.WyJlIiwiYWNtZSIsLTFd")
	f.Add("c1.abc")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := store.ParseFeedPosition(s)
		if err != nil {
			if !errors.Is(err, store.ErrBadPosition) {
				t.Fatalf("ParseFeedPosition(%q): err %v does not wrap ErrBadPosition", s, err)
			}
			return
		}
		if !wire.ValidName(p.Tenant) || p.Epoch == "" {
			t.Fatalf("accepted %q as %+v", s, p)
		}
		again, err := store.ParseFeedPosition(p.String())
		if err != nil || again != p {
			t.Fatalf("re-encoded position %+v parses to %+v, %v", p, again, err)
		}
	})
}

func TestPlanChanges(t *testing.T) {
	pos := store.FeedPosition{Epoch: "e1", Tenant: "acme", Seq: 7}.String()
	for _, tc := range []struct {
		name string
		q    store.ChangeQuery
		want error
	}{
		{"start", store.ChangeQuery{Tenant: "acme"}, nil},
		{"resume", store.ChangeQuery{Tenant: "acme", Since: pos}, nil},
		{"another tenant", store.ChangeQuery{Tenant: "beta", Since: pos}, store.ErrBadPosition},
		{"bad tenant", store.ChangeQuery{Tenant: "A"}, store.ErrBadQuery},
		{"bad limit", store.ChangeQuery{Tenant: "acme", Limit: -1}, store.ErrBadQuery},
	} {
		_, err := store.PlanChanges(tc.q, "e1")
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := store.PlanChanges(store.ChangeQuery{Tenant: "acme", Since: pos}, "e2"); !errors.Is(err, store.ErrPositionGone) {
		t.Errorf("position of another epoch: err = %v, want ErrPositionGone", err)
	}
}
