package config

import (
	"strings"
	"testing"
	"time"
)

// validBase is a minimal valid configuration to add reconcile keys to.
const validBase = `
agent: {id: edge-01, data_dir: /tmp/x}
relay: {url: "tls://relay:4222", credentials: /dev/null, tenant: acme, integration: sn}
servicenow:
  url: https://acme.service-now.com
  auth: {method: basic, username: u, password: p}
`

func TestReconcileDefaultsAndOverrides(t *testing.T) {
	c, err := Parse([]byte(validBase+`  reconcile: {interval: 12h, verify_fields: true}
  tables:
    sys_user: {reconcile: {interval: 0}}
    change_request: {reconcile: {verify_fields: false}}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		table, field string
		interval     time.Duration
		verify       bool
	}{
		{"incident", "sys_updated_on", 12 * time.Hour, true},
		{"sys_user", "sys_updated_on", 0, true},
		{"change_request", "sys_updated_on", 12 * time.Hour, false},
		{"sys_audit", "sys_created_on", 0, true},
	} {
		iv, v := c.ServiceNow.ReconcileOf(tc.table, tc.field)
		if iv != tc.interval || v != tc.verify {
			t.Errorf("%s: interval %v verify %v, want %v %v", tc.table, iv, v, tc.interval, tc.verify)
		}
	}
	d, err := Parse([]byte(validBase), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if iv, v := d.ServiceNow.ReconcileOf("incident", "sys_updated_on"); iv != 24*time.Hour || v {
		t.Errorf("defaults: interval %v verify %v, want 24h false", iv, v)
	}
}

// TestReconcileErrorsNameTheKey: bad values are refused with their key.
func TestReconcileErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ name, add, want string }{
		{"too often", "  reconcile: {interval: 10s}\n", "servicenow.reconcile.interval: must be 0 (off) or at least 1m0s"},
		{"negative", "  reconcile: {interval: -1h}\n", "servicenow.reconcile.interval"},
		{"not a duration", "  reconcile: {interval: daily}\n", "interval"},
		{"table too often", "  tables:\n    incident: {reconcile: {interval: 5s}}\n", "servicenow.tables.incident.reconcile.interval: must be 0"},
		{"insert-only table", "  tables:\n    sys_audit: {reconcile: {interval: 24h}}\n", "servicenow.tables.sys_audit.reconcile.interval: only tables incremental on sys_updated_on"},
		{"unknown key", "  reconcile: {verify: true}\n", "verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(validBase+tc.add), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
