package snowtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	sysIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timeRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)
)

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestRecordShapesMatchFixtures(t *testing.T) {
	_, hs, _ := start(t, Options{Seed: 1, Incidents: 30})
	var incFix struct{ Result []map[string]any }
	readFixture(t, "incident_pdi_INC0000060.json", &incFix)
	var jFix struct{ Result []map[string]any }
	readFixture(t, "sys_journal_field_rows.json", &jFix)
	fixtures := map[string]map[string]any{TableIncident: incFix.Result[0], TableJournal: jFix.Result[0]}

	for table, fix := range fixtures {
		r := get(t, hs, "/api/now/table/"+table, vals("sysparm_limit", "50"))
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json;charset=UTF-8" {
			t.Fatalf("%s: status %d, content type %q", table, r.status, r.header.Get("Content-Type"))
		}
		if got, want := r.header.Get("Date"), epoch.Format(http.TimeFormat); got != want {
			t.Errorf("Date = %q, want the instance clock %q", got, want)
		}
		rows := listResult(t, r)
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", table)
		}
		refSeen := false
		for _, row := range rows {
			if diff := cmp.Diff(keys(fix), keys(row)); diff != "" {
				t.Fatalf("%s field set differs from the fixture (-fixture +sim):\n%s", table, diff)
			}
			for f, v := range row {
				switch v := v.(type) {
				case string:
					if _, isRef := fix[f].(map[string]any); isRef && v != "" {
						t.Errorf("%s.%s: set reference rendered as bare %q", table, f, v)
					}
				case map[string]any:
					refSeen = true
					if diff := cmp.Diff([]string{"link", "value"}, keys(v)); diff != "" {
						t.Errorf("%s.%s reference keys (-want +got):\n%s", table, f, diff)
					}
					if !strings.HasPrefix(v["link"].(string), hs.URL+"/api/now/table/") {
						t.Errorf("%s.%s link = %v", table, f, v["link"])
					}
				default:
					t.Errorf("%s.%s = %#v: every scalar must be a string", table, f, v)
				}
			}
			if !sysIDRE.MatchString(row["sys_id"].(string)) || !timeRE.MatchString(row["sys_created_on"].(string)) {
				t.Errorf("%s: bad sys_id or sys_created_on in %v", table, row)
			}
		}
		if table == TableIncident && !refSeen {
			t.Errorf("incident: no reference object rendered")
		}
	}
}

func TestGeneratedValuesAreRealistic(t *testing.T) {
	s, _, _ := start(t, Options{Seed: 2})
	incidents := s.Records(TableIncident)
	if len(incidents) != 200 {
		t.Fatalf("default incidents = %d, want 200", len(incidents))
	}
	users := map[string]bool{}
	for _, u := range s.Records(TableUser) {
		users[u["sys_id"].(string)] = true
	}
	perSecond := map[string]int{}
	for _, r := range incidents {
		imp, _ := strconv.Atoi(r["impact"].(string))
		urg, _ := strconv.Atoi(r["urgency"].(string))
		if r["priority"] != strconv.Itoa(imp+urg-1) {
			t.Errorf("%s: priority %v from impact %d urgency %d", r["number"], r["priority"], imp, urg)
		}
		if !regexp.MustCompile(`^INC001\d{4}$`).MatchString(r["number"].(string)) {
			t.Errorf("number %v", r["number"])
		}
		if !users[r["caller_id"].(string)] {
			t.Errorf("%s: caller_id %v is not a generated user", r["number"], r["caller_id"])
		}
		if _, ok := incidentStates[r["state"].(string)]; !ok {
			t.Errorf("%s: state %v", r["number"], r["state"])
		}
		perSecond[r["sys_updated_on"].(string)]++
	}
	most := 0
	for _, n := range perSecond {
		most = max(most, n)
	}
	if most < 5 {
		t.Errorf("busiest sys_updated_on second holds %d incidents; bulk updates need many", most)
	}
	if c := s.Records(TableChangeRequest); len(c) != 50 || !strings.HasPrefix(c[0]["number"].(string), "CHG003") {
		t.Errorf("changes: %d, first %v", len(c), c[0]["number"])
	}
	if n := len(s.Records(TableApproval)); n != 100 {
		t.Errorf("approvals = %d, want 2 per change", n)
	}
	if n := len(s.Records(TableJournal)); n < 400 {
		t.Errorf("journal rows = %d, want >= 2 per incident", n)
	}
	if n := len(s.Records(TableAuditDelete)); n == 0 {
		t.Errorf("no generated deletions in sys_audit_delete")
	}
	descAudits := 0
	for _, a := range s.Records(TableAudit) {
		if a["fieldname"] == "description" {
			descAudits++
		}
	}
	if descAudits == 0 {
		t.Errorf("no sys_audit rows carry description values")
	}
}

func TestDisplayValueModes(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 3, Incidents: 20})
	var inc map[string]any
	for _, r := range s.Records(TableIncident) {
		if r["assigned_to"] != "" && r["state"] == "7" {
			inc = r
			break
		}
	}
	if inc == nil {
		t.Fatal("no closed, assigned incident generated")
	}
	user, _ := s.Get(TableUser, inc["assigned_to"].(string))
	uid := inc["assigned_to"].(string)
	link := hs.URL + "/api/now/table/sys_user/" + uid
	updated, _ := time.Parse(timeLayout, inc["sys_updated_on"].(string))
	local := updated.In(displayZone).Format(timeLayout)
	fields := "assigned_to,state,sys_updated_on,parent,nosuch"

	tests := []struct {
		name   string
		params url.Values
		want   map[string]any
	}{
		{"values", vals("sysparm_display_value", "false"), map[string]any{
			"assigned_to": map[string]any{"link": link, "value": uid}, "state": "7",
			"sys_updated_on": inc["sys_updated_on"], "parent": ""}},
		{"values without links", vals("sysparm_exclude_reference_link", "true"), map[string]any{
			"assigned_to": uid, "state": "7", "sys_updated_on": inc["sys_updated_on"], "parent": ""}},
		{"display", vals("sysparm_display_value", "true"), map[string]any{
			"assigned_to": map[string]any{"link": link, "display_value": user["name"]}, "state": "Closed",
			"sys_updated_on": local, "parent": ""}},
		{"display without links", vals("sysparm_display_value", "true", "sysparm_exclude_reference_link", "true"),
			map[string]any{"assigned_to": user["name"], "state": "Closed", "sys_updated_on": local, "parent": ""}},
		{"all", vals("sysparm_display_value", "all"), map[string]any{
			"assigned_to":    map[string]any{"link": link, "display_value": user["name"], "value": uid},
			"state":          map[string]any{"display_value": "Closed", "value": "7"},
			"sys_updated_on": map[string]any{"display_value": local, "value": inc["sys_updated_on"]},
			"parent":         map[string]any{"display_value": "", "value": ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.params.Set("sysparm_fields", fields)
			tt.params.Set("sysparm_query", "sys_id="+inc["sys_id"].(string))
			rows := listResult(t, get(t, hs, "/api/now/table/incident", tt.params))
			if len(rows) != 1 {
				t.Fatalf("got %d rows", len(rows))
			}
			if diff := cmp.Diff(tt.want, rows[0]); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var one struct{ Result map[string]any }
			r := get(t, hs, "/api/now/table/incident/"+inc["sys_id"].(string), tt.params)
			if err := json.Unmarshal(r.body, &one); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, one.Result); diff != "" {
				t.Errorf("single record (-want +got):\n%s", diff)
			}
		})
	}
}

var linkRE = regexp.MustCompile(`<([^>]*)>;rel="(\w+)"`)

// links maps rel to the sysparm_offset of each Link URL.
func links(t *testing.T, h string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(h, -1) {
		u, err := url.Parse(m[1])
		if err != nil {
			t.Fatal(err)
		}
		out[m[2]] = u.Query().Get("sysparm_offset")
	}
	return out
}

func TestPaginationHeaders(t *testing.T) {
	_, hs, _ := start(t, Options{Seed: 4, Incidents: 23})
	tests := []struct {
		name      string
		params    url.Values
		wantCount string
		wantLinks map[string]string
		rows      int
	}{
		{"middle page", vals("sysparm_limit", "10", "sysparm_offset", "10"), "23",
			map[string]string{"first": "0", "prev": "0", "next": "20", "last": "20"}, 10},
		{"first page", vals("sysparm_limit", "10"), "23",
			map[string]string{"first": "0", "next": "10", "last": "20"}, 10},
		{"last page", vals("sysparm_limit", "10", "sysparm_offset", "20"), "23",
			map[string]string{"first": "0", "prev": "10", "last": "20"}, 3},
		{"no count", vals("sysparm_limit", "10", "sysparm_no_count", "true"), "",
			map[string]string{"first": "0", "next": "10"}, 10},
		{"suppressed", vals("sysparm_limit", "10", "sysparm_suppress_pagination_header", "true"), "23",
			map[string]string{}, 10},
		{"default limit", vals(), "23", map[string]string{"first": "0", "last": "0"}, 23},
		{"filtered", vals("sysparm_limit", "10", "sysparm_query", "numberININC0010001,INC0010002"), "2",
			map[string]string{"first": "0", "last": "0"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, hs, "/api/now/table/incident", tt.params)
			if got := r.header.Get("X-Total-Count"); got != tt.wantCount {
				t.Errorf("X-Total-Count = %q, want %q", got, tt.wantCount)
			}
			if diff := cmp.Diff(tt.wantLinks, links(t, r.header.Get("Link"))); diff != "" {
				t.Errorf("Link %q (-want +got):\n%s", r.header.Get("Link"), diff)
			}
			if n := len(listResult(t, r)); n != tt.rows {
				t.Errorf("rows = %d, want %d", n, tt.rows)
			}
		})
	}
}

func TestVersionsAndEmptyResults(t *testing.T) {
	_, hs, _ := start(t, Options{Seed: 5, Incidents: 3})
	var errs map[string]any
	readFixture(t, "errors.json", &errs)
	for _, prefix := range []string{"/api/now/table/", "/api/now/v1/table/", "/api/now/v2/table/"} {
		if n := len(listResult(t, get(t, hs, prefix+"incident", nil))); n != 3 {
			t.Errorf("%s: %d rows, want 3", prefix, n)
		}
	}
	empty := vals("sysparm_query", "number=NOPE")
	for _, prefix := range []string{"/api/now/table/", "/api/now/v2/table/"} {
		r := get(t, hs, prefix+"incident", empty)
		if r.status != http.StatusOK || string(r.body) != `{"result":[]}` {
			t.Errorf("%s empty: %d %s", prefix, r.status, r.body)
		}
	}
	r := get(t, hs, "/api/now/v1/table/incident", empty)
	assertEnvelope(t, r, http.StatusNotFound, errs["no_record_404"])
}

func assertEnvelope(t *testing.T, r response, status int, want any) {
	t.Helper()
	var got any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	if r.status != status {
		t.Errorf("status = %d, want %d", r.status, status)
	}
	if ct := r.header.Get("Content-Type"); ct != contentType {
		t.Errorf("content type %q", ct)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
}

func TestErrorEnvelopes(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 6, Incidents: 3})
	var errs map[string]any
	readFixture(t, "errors.json", &errs)

	assertEnvelope(t, get(t, hs, "/api/now/table/incidnt", nil), http.StatusBadRequest, errs["invalid_table_400"])
	assertEnvelope(t, get(t, hs, "/api/now/table/incident/0123456789abcdef0123456789abcdef", nil),
		http.StatusNotFound, errs["no_record_404"])

	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/now/table/incident", nil)
	assertEnvelope(t, do(t, hs, req), http.StatusUnauthorized, errs["not_authenticated_401"])
	req, _ = http.NewRequest(http.MethodGet, hs.URL+"/api/now/table/incident", nil)
	req.SetBasicAuth("admin", "wrong")
	assertEnvelope(t, do(t, hs, req), http.StatusUnauthorized, errs["not_authenticated_401"])

	unknown := vals("sysparm_query", "u_nosuch=1")
	if n := len(listResult(t, get(t, hs, "/api/now/table/incident", unknown))); n != 3 {
		t.Errorf("unknown field clause not dropped: %d rows", n)
	}
	s.SetFaults(Faults{UnknownFieldIs403: true})
	assertEnvelope(t, get(t, hs, "/api/now/table/incident", unknown), http.StatusForbidden, errs["field_acl_403"])
	if r := get(t, hs, "/api/now/table/incident", vals("sysparm_query", "state!=0")); r.status != http.StatusOK {
		t.Errorf("known field with the 403 fault: %d", r.status)
	}
}

func TestRowACLsShortenPagesAfterLimit(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 7, Incidents: 60})
	s.HideRows(TableIncident, 0.5)
	visible := map[string]bool{}
	for _, r := range s.Records(TableIncident) {
		if !s.hiddenLocked(TableIncident, r["sys_id"].(string)) {
			visible[r["sys_id"].(string)] = true
		}
	}
	got := map[string]bool{}
	short := 0
	for offset := 0; offset < 60; offset += 10 {
		r := get(t, hs, "/api/now/table/incident", vals("sysparm_limit", "10", "sysparm_offset", strconv.Itoa(offset)))
		if r.header.Get("X-Total-Count") != "60" {
			t.Errorf("X-Total-Count = %q, want the pre-ACL 60", r.header.Get("X-Total-Count"))
		}
		page := ids(listResult(t, r))
		if len(page) < 10 {
			short++
		}
		for _, id := range page {
			got[id] = true
		}
	}
	if short == 0 {
		t.Errorf("no short page with half the rows hidden")
	}
	if diff := cmp.Diff(visible, got); diff != "" {
		t.Errorf("visible rows (-want +got):\n%s", diff)
	}
	for id := range visible {
		hiddenID := ""
		for _, r := range s.Records(TableIncident) {
			if !visible[r["sys_id"].(string)] {
				hiddenID = r["sys_id"].(string)
			}
		}
		if r := get(t, hs, "/api/now/table/incident/"+hiddenID, nil); r.status != http.StatusNotFound {
			t.Errorf("hidden single record: %d", r.status)
		}
		if r := get(t, hs, "/api/now/table/incident/"+id, nil); r.status != http.StatusOK {
			t.Errorf("visible single record: %d", r.status)
		}
		break
	}
	s.HideRows(TableIncident, 1)
	r := get(t, hs, "/api/now/table/incident", vals("sysparm_limit", "10"))
	if n := len(listResult(t, r)); n != 0 || links(t, r.header.Get("Link"))["next"] != "10" {
		t.Errorf("all hidden: %d rows, Link %q; want an empty page that still has a next", n, r.header.Get("Link"))
	}
}

func TestAggregateCount(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 8, Incidents: 40})
	want := 0
	for _, r := range s.Records(TableIncident) {
		if r["active"] == "true" {
			want++
		}
	}
	r := get(t, hs, "/api/now/stats/incident", vals("sysparm_count", "true", "sysparm_query", "active=true"))
	var got struct {
		Result struct {
			Stats struct {
				Count string `json:"count"`
			} `json:"stats"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	if got.Result.Stats.Count != strconv.Itoa(want) {
		t.Errorf("count = %q, want %d", got.Result.Stats.Count, want)
	}
	if r := get(t, hs, "/api/now/stats/nosuch", vals("sysparm_count", "true")); r.status != http.StatusBadRequest {
		t.Errorf("stats of unknown table: %d", r.status)
	}
}
