package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/sei-edge/servicenow-edge/agent/config"
	"github.com/sei-edge/servicenow-edge/buffer"
)

// TestRefreshTokenExpiry: the refresh token's lifetime starts when a new
// one is stored, not at each access-token renewal, and counts only for the
// authorization_code grant.
func TestRefreshTokenExpiry(t *testing.T) {
	buf, err := buffer.Open(buffer.Options{Dir: t.TempDir(), MinFreeBytes: 1, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	ts := &tokenStore{buf: buf}
	ctx := context.Background()
	cfg := config.Default()
	cfg.ServiceNow.Auth.Method, cfg.ServiceNow.Auth.Grant = "oauth", "authorization_code"

	if got := refreshExpiry(&cfg, buf.Get); !got.IsZero() {
		t.Errorf("expiry before any token = %v", got)
	}
	before := time.Now()
	if err := ts.SaveToken(ctx, &oauth2.Token{AccessToken: "a1", RefreshToken: "r1"}); err != nil {
		t.Fatal(err)
	}
	first := refreshExpiry(&cfg, buf.Get)
	lifetime := time.Duration(cfg.ServiceNow.Auth.RefreshTokenLifetime)
	if first.Before(before.Add(lifetime)) || first.After(time.Now().Add(lifetime)) {
		t.Errorf("expiry %v, want about now + %v", first, lifetime)
	}
	// A renewed access token with the same refresh token: unchanged.
	if err := ts.SaveToken(ctx, &oauth2.Token{AccessToken: "a2", RefreshToken: "r1"}); err != nil {
		t.Fatal(err)
	}
	if got := refreshExpiry(&cfg, buf.Get); !got.Equal(first) {
		t.Errorf("expiry moved to %v on an access-token renewal", got)
	}
	if tok, _ := ts.LoadToken(ctx); tok == nil || tok.AccessToken != "a2" {
		t.Errorf("stored token = %+v", tok)
	}
	cfg.ServiceNow.Auth.Grant = "password" // renews itself: no expiry to warn about
	if got := refreshExpiry(&cfg, buf.Get); !got.IsZero() {
		t.Errorf("password grant expiry = %v, want none", got)
	}
}

// TestSyncTables: servicenow.tables adds, changes and disables tables, and
// the exclusions are planned once: a journal with only comments wanted reads
// only comments, with both excluded it is not read, and every table lists
// its excluded fields for status.
func TestSyncTables(t *testing.T) {
	cfg := config.Default()
	off := false
	cfg.ServiceNow.ExcludeFields = []string{"work_notes"}
	cfg.ServiceNow.Tables = map[string]config.TableConfig{
		"sys_user_group": {Enabled: &off},
		"incident":       {ExcludeFields: []string{"close_notes"}},
		"problem":        {Fields: []string{"number"}},
	}
	got := map[string]string{}
	for _, tb := range syncTables(&cfg) {
		got[tb.Name] = tb.Filter + " | " + strings.Join(tb.Exclude, ",")
	}
	want := map[string]string{
		"incident":             " | close_notes,work_notes",
		"change_request":       " | work_notes",
		"sys_user":             " | work_notes",
		"sysapproval_approver": " | work_notes",
		"problem":              " | work_notes",
		"sys_audit":            got["sys_audit"],
		"sys_journal_field":    "nameINincident,change_request^element=comments | work_notes",
		"sys_audit_delete":     got["sys_audit_delete"],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}

	cfg.ServiceNow.ExcludeFields = []string{"work_notes", "comments"}
	for _, tb := range syncTables(&cfg) {
		if tb.Name == "sys_journal_field" {
			t.Errorf("sys_journal_field read with comments and work_notes excluded: %+v", tb)
		}
	}
}
