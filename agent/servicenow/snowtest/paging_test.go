package snowtest

import (
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"
)

const orderKeyset = "^ORDERBYsys_updated_on^ORDERBYsys_id"

// naiveOffsetRead pages by offset through incidents ordered by sys_updated_on,
// re-running the query for every page, as many connectors do.
func naiveOffsetRead(t *testing.T, hs *httptest.Server, limit int) []string {
	var out []string
	for offset := 0; ; offset += limit {
		page := ids(listResult(t, get(t, hs, "/api/now/table/incident", vals("sysparm_limit", strconv.Itoa(limit),
			"sysparm_offset", strconv.Itoa(offset), "sysparm_fields", "sys_id",
			"sysparm_query", "ORDERBYsys_updated_on^ORDERBYsys_id"))))
		out = append(out, page...)
		if len(page) < limit {
			return out
		}
	}
}

// keysetRead pages on (sys_updated_on, sys_id) in [from, upto).
func keysetRead(t *testing.T, hs *httptest.Server, from, upto string, limit int) []string {
	var out []string
	q := "sys_updated_on>=" + from + "^sys_updated_on<" + upto + orderKeyset
	for {
		rows := listResult(t, get(t, hs, "/api/now/table/incident", vals("sysparm_limit", strconv.Itoa(limit),
			"sysparm_fields", "sys_id,sys_updated_on", "sysparm_query", q)))
		if len(rows) == 0 {
			return out
		}
		out = append(out, ids(rows)...)
		last := rows[len(rows)-1]
		ts, id := last["sys_updated_on"].(string), last["sys_id"].(string)
		q = "sys_updated_on=" + ts + "^sys_id>" + id + "^NQsys_updated_on>" + ts + "^sys_updated_on<" + upto + orderKeyset
	}
}

// gtRead pages with `sys_updated_on>last` alone.
func gtRead(t *testing.T, hs *httptest.Server, limit int) []string {
	var out []string
	q := "ORDERBYsys_updated_on"
	for {
		rows := listResult(t, get(t, hs, "/api/now/table/incident", vals("sysparm_limit", strconv.Itoa(limit),
			"sysparm_fields", "sys_id,sys_updated_on", "sysparm_query", q)))
		if len(rows) == 0 {
			return out
		}
		out = append(out, ids(rows)...)
		q = "sys_updated_on>" + rows[len(rows)-1]["sys_updated_on"].(string) + "^ORDERBYsys_updated_on"
	}
}

// moveOldest makes a hook that, on the reader's second page, updates the n
// oldest incidents (rows the reader has already seen) to the current second.
func moveOldest(s *Server, n int) func(string, int) {
	return func(table string, page int) {
		if table != TableIncident || page != 2 {
			return
		}
		rows := s.Records(TableIncident)
		slices.SortFunc(rows, func(a, b map[string]any) int {
			return compare(a["sys_updated_on"].(string)+a["sys_id"].(string), b["sys_updated_on"].(string)+b["sys_id"].(string))
		})
		for _, r := range rows[:n] {
			_ = s.Update(TableIncident, r["sys_id"].(string), map[string]string{"short_description": "bulk edit"})
		}
	}
}

// audit compares a read with the expected set of ids.
func audit(read []string, want []string) (missing, repeated int) {
	seen := map[string]int{}
	for _, id := range read {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	for _, n := range seen {
		repeated += n - 1
	}
	return missing, repeated
}

func allIncidentIDs(s *Server) []string {
	var out []string
	for _, r := range s.Records(TableIncident) {
		out = append(out, r["sys_id"].(string))
	}
	return out
}

func TestNaiveOffsetPagingLosesRowsKeysetDoesNot(t *testing.T) {
	opts := Options{Seed: 31, Incidents: 100}

	naive, naiveHS, _ := start(t, opts)
	want := allIncidentIDs(naive)
	naive.OnPage(moveOldest(naive, 3))
	missing, repeated := audit(naiveOffsetRead(t, naiveHS, 10), want)
	if missing == 0 || repeated == 0 {
		t.Errorf("naive offset paging: %d missing, %d repeated; the simulator should make it fail", missing, repeated)
	}

	keyset, keysetHS, clock := start(t, opts) // same seed: same data
	keyset.OnPage(moveOldest(keyset, 3))
	from := epoch.Add(-200 * 24 * time.Hour).Format(timeLayout)
	upto := clock.Now().Format(timeLayout) // run start; rows moved during the run are for the next run
	read := keysetRead(t, keysetHS, from, upto, 10)
	if missing, repeated := audit(read, want); missing != 0 || repeated != 0 {
		t.Errorf("keyset paging: %d missing, %d repeated of %d", missing, repeated, len(want))
	}
	keyset.OnPage(nil)
	clock.Add(time.Minute)
	next := keysetRead(t, keysetHS, upto, clock.Now().Format(timeLayout), 10)
	if len(next) != 3 {
		t.Errorf("next run found %d rows updated during the first, want 3", len(next))
	}
}

func TestGreaterThanPagingSkipsSameSecondRows(t *testing.T) {
	s, hs, _ := start(t, Options{Seed: 32, Incidents: 100})
	missing, _ := audit(gtRead(t, hs, 5), allIncidentIDs(s))
	if missing == 0 {
		t.Errorf("sys_updated_on> paging missed nothing; bulk-update seconds are missing from the data")
	}
}
