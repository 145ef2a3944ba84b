package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExclusionsThatBreakPaging: an exclusion of a field a synced table
// pages on or is identified by is a configuration error naming the key;
// the same field is fine where nothing depends on it.
func TestExclusionsThatBreakPaging(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error; none: valid
	}{
		{"sys_id globally", `exclude_fields: [sys_id]`,
			[]string{`servicenow.exclude_fields: cannot exclude "sys_id": it identifies every record (incident,`}},
		{"sys_id on one table", `tables: {sys_user: {exclude_fields: [email, sys_id]}}`,
			[]string{`servicenow.tables.sys_user.exclude_fields: cannot exclude "sys_id"`}},
		{"sys_updated_on globally", `exclude_fields: [sys_updated_on]`,
			[]string{`servicenow.exclude_fields: cannot exclude "sys_updated_on": the table pages on it`}},
		{"sys_updated_on of an insert-only table", `tables: {sys_audit: {exclude_fields: [sys_updated_on]}}`, nil},
		{"sys_created_on globally", `exclude_fields: [sys_created_on]`,
			[]string{`servicenow.exclude_fields: cannot exclude "sys_created_on": the table pages on it (keyset paging on sys_created_on, sys_id) (sys_audit, sys_journal_field, sys_audit_delete)`}},
		{"sys_created_on of a record table", `tables: {incident: {exclude_fields: [sys_created_on]}}`, nil},
		{"sys_created_on of the journal", `tables: {sys_journal_field: {exclude_fields: [sys_created_on]}}`,
			[]string{`servicenow.tables.sys_journal_field.exclude_fields: cannot exclude "sys_created_on"`}},
		{"sys_created_on of a disabled table", `tables: {sys_journal_field: {enabled: false, exclude_fields: [sys_created_on]}}`, nil},
		{"a table paging on sys_created_on", `tables: {incident: {field: sys_created_on, exclude_fields: [sys_created_on]}}`,
			[]string{`servicenow.tables.incident.exclude_fields: cannot exclude "sys_created_on"`}},
		{"deletion identity", `exclude_fields: [documentkey, tablename]`,
			[]string{`servicenow.exclude_fields: cannot exclude "documentkey": it is the sys_id of each deleted record (sys_audit, sys_audit_delete)`,
				`servicenow.exclude_fields: cannot exclude "tablename": it names the table of each deleted record`}},
		{"identifying columns of copies are fine", `exclude_fields: [name, element, fieldname, value, oldvalue, newvalue, payload, element_id]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "agent: {id: edge-1, data_dir: d}\nservicenow:\n  url: https://acme.service-now.com\n" +
				"  auth: {method: basic, username: u, password: p}\n  " + tt.yaml +
				"\nrelay: {url: \"tls://relay:4222\", credentials: c.nk, tenant: acme, integration: sn}\n"
			dir := t.TempDir()
			writeFile(t, dir, "c.nk")
			_, err := Parse([]byte(cfg), dir)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want a configuration error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}
