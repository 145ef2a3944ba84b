package servicenow

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodedQuery(t *testing.T) {
	inc := Table{Name: "incident", Field: FieldUpdatedOn}
	audit := Table{Name: "sys_audit", Field: FieldCreatedOn, Filter: "tablenameINincident,change_request"}
	const upto = "2026-01-02 03:04:05"
	tests := []struct {
		name  string
		table Table
		from  Cursor
		want  string
	}{
		{"from the beginning", inc, Cursor{}, "sys_updated_on<" + upto + "^ORDERBYsys_updated_on^ORDERBYsys_id"},
		{"inclusive time", inc, Cursor{Time: "2025-10-01 00:00:00"},
			"sys_updated_on>=2025-10-01 00:00:00^sys_updated_on<" + upto + "^ORDERBYsys_updated_on^ORDERBYsys_id"},
		{"after a row", inc, Cursor{Time: "2025-10-01 00:00:00", SysID: "abc"},
			"sys_updated_on=2025-10-01 00:00:00^sys_id>abc^NQsys_updated_on>2025-10-01 00:00:00^sys_updated_on<" + upto + "^ORDERBYsys_updated_on^ORDERBYsys_id"},
		{"filter repeated in each NQ group", audit, Cursor{Time: "2025-10-01 00:00:00", SysID: "abc"},
			"tablenameINincident,change_request^sys_created_on=2025-10-01 00:00:00^sys_id>abc^NQtablenameINincident,change_request^sys_created_on>2025-10-01 00:00:00^sys_created_on<" + upto + "^ORDERBYsys_created_on^ORDERBYsys_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pageQuery{table: tt.table, from: tt.from, upto: upto}.encodedQuery()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryValues(t *testing.T) {
	q := pageQuery{table: Table{Name: "incident", Field: FieldUpdatedOn}, upto: "2026-01-02 03:04:05", limit: 500, fields: "sys_id,number"}
	v, err := q.values()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sysparm_limit": "500", "sysparm_display_value": "false", "sysparm_exclude_reference_link": "true",
		"sysparm_no_count": "true", "sysparm_fields": "sys_id,number"}
	for k, w := range want {
		if got := v.Get(k); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	q.counts, q.offset = true, 1000
	v, _ = q.values()
	if v.Has("sysparm_no_count") || v.Get("sysparm_offset") != "1000" {
		t.Errorf("counts/offset query = %v", v)
	}
}

func TestQueryRejectsInjection(t *testing.T) {
	bad := []Cursor{{Time: "2025-01-01 00:00:00^ORsys_id>0"}, {Time: "2025-01-01 00:00:00", SysID: "a^NQactive=true"}, {SysID: "abc"}}
	for _, c := range bad {
		if _, err := (pageQuery{table: Table{Name: "incident", Field: FieldUpdatedOn}, from: c, upto: "2026-01-01 00:00:00"}).encodedQuery(); err == nil {
			t.Errorf("cursor %+v accepted", c)
		}
	}
}

func TestCursorRewind(t *testing.T) {
	got := Cursor{Time: "2026-01-02 00:00:30", SysID: "x"}.Rewind(time.Minute)
	if diff := cmp.Diff(Cursor{Time: "2026-01-01 23:59:30"}, got); diff != "" {
		t.Error(diff)
	}
	if !(Cursor{}).Rewind(time.Minute).IsZero() {
		t.Error("zero cursor rewound to non-zero")
	}
}

func FuzzEncodedQuery(f *testing.F) {
	f.Add("2025-10-01 00:00:00", "abc", "incident", "sys_updated_on", "active=true")
	f.Add("", "", "sys_audit", "sys_created_on", "")
	f.Add("x^y", "a^NQb", "inc", "f", "^NQ")
	f.Fuzz(func(t *testing.T, tm, id, table, field, filter string) {
		tbl := Table{Name: table, Field: field, Filter: filter}
		q := pageQuery{table: tbl, from: Cursor{Time: tm, SysID: id}, upto: "2026-01-01 00:00:00", limit: 10}
		got, err := q.encodedQuery()
		if err != nil || tbl.Check() != nil {
			return
		}
		// Well-formed: the cursor adds no query syntax, so the query has at
		// most one NQ beyond the filter's and ends with the ordering.
		if strings.Count(got, "^NQ") > 1 {
			t.Fatalf("query %q has more than one ^NQ", got)
		}
		if !strings.HasSuffix(got, "^ORDERBY"+field+"^ORDERBYsys_id") {
			t.Fatalf("query %q does not end with its ordering", got)
		}
		if strings.Count(got, "ORDERBY") != 2 {
			t.Fatalf("query %q has extra ORDERBY", got)
		}
	})
}
