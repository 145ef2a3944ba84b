package snowtest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var queryRows = []map[string]string{
	{"sys_id": "a1", "sys_updated_on": "2024-01-01 10:00:00", "state": "1", "priority": "1", "number": "INC0010001", "description": "email down", "tablename": "incident"},
	{"sys_id": "b2", "sys_updated_on": "2024-01-01 10:00:00", "state": "2", "priority": "2", "number": "INC0010002", "description": "", "tablename": "change_request"},
	{"sys_id": "c3", "sys_updated_on": "2024-01-01 10:00:01", "state": "6", "priority": "10", "number": "INC0010003", "description": "email again", "tablename": "sys_user"},
	{"sys_id": "d4", "sys_updated_on": "2024-01-02 00:00:00", "state": "2", "priority": "1", "number": "CHG0030001", "description": "vpn", "tablename": "incident"},
	{"sys_id": "e5", "sys_updated_on": "2024-01-03 00:00:00", "state": "7", "priority": "5", "number": "INC0010005", "description": "Email caps", "tablename": "change_request"},
}

var queryDef = &tableDef{name: "t", fields: []string{"sys_id", "sys_updated_on", "state", "priority", "number", "description", "tablename"}}

// run evaluates q over queryRows the way the Table API does.
func run(q string) []string {
	parsed := parseQuery(q).prune(queryDef)
	var matched []map[string]string
	for _, r := range queryRows {
		if parsed.match(r) {
			matched = append(matched, r)
		}
	}
	parsed.sortRows(matched)
	out := []string{}
	for _, r := range matched {
		out = append(out, r["sys_id"])
	}
	return out
}

func TestQuery(t *testing.T) {
	const (
		T    = "2024-01-01 10:00:00"
		upto = "2024-01-03 00:00:00"
		ob   = "^ORDERBYsys_updated_on^ORDERBYsys_id"
		flt  = "tablenameINincident,change_request^"
	)
	tests := []struct {
		name, q string
		want    []string
	}{
		{"empty", "", []string{"a1", "b2", "c3", "d4", "e5"}},
		{"equals", "state=2", []string{"b2", "d4"}},
		{"not equals", "state!=2", []string{"a1", "c3", "e5"}},
		{"in", "stateIN1,2", []string{"a1", "b2", "d4"}},
		{"not in", "stateNOT IN1,2", []string{"c3", "e5"}},
		{"startswith", "numberSTARTSWITHINC001", []string{"a1", "b2", "c3", "e5"}},
		{"endswith", "numberENDSWITH3", []string{"c3"}},
		{"like", "descriptionLIKEemail", []string{"a1", "c3"}},
		{"like is case-sensitive", "descriptionLIKEEMAIL", []string{}},
		{"not like", "descriptionNOT LIKEemail", []string{"b2", "d4", "e5"}},
		{"isempty", "descriptionISEMPTY", []string{"b2"}},
		{"isnotempty", "descriptionISNOTEMPTY", []string{"a1", "c3", "d4", "e5"}},
		{"between inclusive", "sys_updated_onBETWEEN2024-01-01 10:00:01@2024-01-02 00:00:00", []string{"c3", "d4"}},
		{"numeric compare", "priority<5", []string{"a1", "b2", "d4"}},
		{"greater or equal", "priority>=5", []string{"c3", "e5"}},
		{"date text compare", "sys_updated_on>" + T, []string{"c3", "d4", "e5"}},
		{"and", "state=2^priority=1", []string{"d4"}},
		{"or", "state=1^ORstate=6", []string{"a1", "c3"}},
		{"or binds to its neighbour only", "priority=1^state=1^ORstate=2", []string{"a1", "d4"}},
		{"nq", "state=1^NQstate=6", []string{"a1", "c3"}},
		{"orderby desc then asc", "ORDERBYDESCsys_updated_on^ORDERBYsys_id", []string{"e5", "d4", "c3", "a1", "b2"}},
		{"orderby numeric", "ORDERBYDESCpriority^ORDERBYsys_id", []string{"c3", "e5", "b2", "a1", "d4"}},
		{"unknown field dropped", "nosuchfield=1^state=7", []string{"e5"}},
		{"unparseable clause dropped", "state~~1^state=7", []string{"e5"}},
		{"date generate in user zone", "sys_updated_on>=javascript:gs.dateGenerate('2024-01-01','16:00:00')", []string{"d4", "e5"}},
		{"keyset first page", "sys_updated_on>=" + T + "^sys_updated_on<" + upto + ob, []string{"a1", "b2", "c3", "d4"}},
		{"keyset next page", "sys_updated_on=" + T + "^sys_id>a1^NQsys_updated_on>" + T + "^sys_updated_on<" + upto + ob,
			[]string{"b2", "c3", "d4"}},
		{"keyset next page with filter in each group",
			flt + "sys_updated_on=" + T + "^sys_id>a1^NQ" + flt + "sys_updated_on>" + T + "^sys_updated_on<" + upto + ob,
			[]string{"b2", "d4"}},
		{"filter does not carry across NQ",
			flt + "sys_updated_on=" + T + "^sys_id>a1^NQsys_updated_on>" + T + "^sys_updated_on<" + upto + ob,
			[]string{"b2", "c3", "d4"}},
		{"escaped caret", "description=a^^b", []string{}},
		{"EQ terminator", "state=2^EQ", []string{"b2", "d4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, run(tt.q)); diff != "" {
				t.Errorf("query %q (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func TestParseQueryStructure(t *testing.T) {
	got := parseQuery("a=1^ORb=2^c=3^NQd>4^ORDERBYe^ORDERBYDESCf")
	want := query{
		groups: [][][]cond{
			{{{"a", "=", "1"}, {"b", "=", "2"}}, {{"c", "=", "3"}}},
			{{{"d", ">", "4"}}},
		},
		order: []orderKey{{"e", false}, {"f", true}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(query{}, cond{}, orderKey{})); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
	if u := parseQuery("zz=1^ORDERBYyy^state=1").unknownFields(queryDef); !cmp.Equal(u, []string{"zz", "yy"}) {
		t.Errorf("unknown fields = %v", u)
	}
}

// TestCompare: compare orders integers numerically and everything else as
// text, exactly as comparing after strconv.ParseInt would.
func TestCompare(t *testing.T) {
	ref := func(a, b string) int {
		x, errA := strconv.ParseInt(a, 10, 64)
		y, errB := strconv.ParseInt(b, 10, 64)
		switch {
		case errA != nil || errB != nil:
		case x < y:
			return -1
		case x > y:
			return 1
		default:
			return 0
		}
		return strings.Compare(a, b)
	}
	vals := []string{"", "-", "+", "0", "-0", "+5", "5", "10", "-10", "01", " 1", "1 ", "1e3", "+-1", "--1",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "2024-01-01 10:00:00", "a", "Z"}
	for _, a := range vals {
		for _, b := range vals {
			if got, want := compare(a, b), ref(a, b); got != want {
				t.Errorf("compare(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{"", "state=1^ORstate=2^NQpriority>3^ORDERBYDESCnumber",
		"sys_updated_onBETWEEN2024-01-01 00:00:00@2024-02-01 00:00:00", "a^^b^^^", "^NQ^OR^ORDERBY",
		"descriptionNOT LIKEx^stateNOT IN1,,2", "sys_updated_on<javascript:gs.dateGenerate('2024-01-01','00:00:00')"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		parsed := parseQuery(q)
		_ = parsed.unknownFields(queryDef)
		parsed = parsed.prune(queryDef)
		rows := make([]map[string]string, len(queryRows))
		copy(rows, queryRows)
		for _, r := range rows {
			parsed.match(r)
		}
		parsed.sortRows(rows)
	})
}
