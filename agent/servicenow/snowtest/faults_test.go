package snowtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFaults(t *testing.T) {
	var errs map[string]any
	readFixture(t, "errors.json", &errs)
	list := vals("sysparm_limit", "5")

	t.Run("rate limit", func(t *testing.T) {
		s, hs, _ := start(t, Options{Seed: 1, Incidents: 10})
		s.SetFaults(Faults{RateLimitEvery: 3, RetryAfter: 1500 * time.Millisecond})
		for i := 1; i <= 2; i++ {
			if r := get(t, hs, "/api/now/table/incident", list); r.status != http.StatusOK {
				t.Fatalf("request %d: %d", i, r.status)
			}
		}
		r := get(t, hs, "/api/now/table/incident", list)
		assertEnvelope(t, r, http.StatusTooManyRequests, errs["rate_limited_429"])
		want := map[string]string{"Retry-After": "2", "X-Ratelimit-Limit": "100",
			"X-Ratelimit-Reset": strconv.FormatInt(epoch.Unix()+2, 10), "X-Ratelimit-Remaining": ""}
		for h, v := range want {
			if got := r.header.Get(h); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
		if r.header.Get("X-RateLimit-Rule") == "" {
			t.Errorf("no X-RateLimit-Rule")
		}
	})

	t.Run("server error", func(t *testing.T) {
		s, hs, _ := start(t, Options{Seed: 1, Incidents: 10})
		s.SetFaults(Faults{ServerErrorEvery: 2})
		var statuses []int
		for range 6 {
			r := get(t, hs, "/api/now/table/incident", list)
			statuses = append(statuses, r.status)
			if r.status >= 500 {
				var env struct{ Status string }
				if err := json.Unmarshal(r.body, &env); err != nil || env.Status != "failure" {
					t.Errorf("5xx body %q", r.body)
				}
			}
		}
		for i, st := range statuses {
			if (i%2 == 1) != (st >= 500) {
				t.Errorf("statuses %v: want every 2nd to be 5xx", statuses)
			}
		}
	})

	t.Run("hibernating html", func(t *testing.T) {
		s, hs, _ := start(t, Options{Seed: 1, Incidents: 10})
		s.SetFaults(Faults{HTMLEvery: 1})
		r := get(t, hs, "/api/now/table/incident", list)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(r.body), "hibernating") {
			t.Errorf("got %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
		}
	})

	t.Run("truncate every", func(t *testing.T) {
		s, hs, _ := start(t, Options{Seed: 1, Incidents: 10})
		s.SetFaults(Faults{TruncateEvery: 2})
		id := s.Records(TableIncident)[0]["sys_id"].(string)
		for i, path := range []string{"incident", "incident/" + id, "incident"} {
			r := get(t, hs, "/api/now/table/"+path, list)
			cut := i == 2 // single-record reads do not count as lists
			if r.status != http.StatusOK || json.Valid(r.body) == cut {
				t.Errorf("request %d: %d valid=%v, want cut=%v", i+1, r.status, json.Valid(r.body), cut)
			}
			if cut && !strings.Contains(string(r.body), "Transaction cancelled: maximum execution time exceeded") {
				t.Errorf("cut body lacks the cancellation message: %q", r.body)
			}
		}
	})

	t.Run("max limit", func(t *testing.T) {
		s, hs, _ := start(t, Options{Seed: 1, Incidents: 10})
		s.SetFaults(Faults{MaxLimitBeforeTruncate: 5})
		for _, tc := range []struct {
			limit string
			ok    bool
		}{{"5", true}, {"6", false}, {"", false}, {"2", true}} {
			q := vals()
			if tc.limit != "" {
				q.Set("sysparm_limit", tc.limit)
			}
			if r := get(t, hs, "/api/now/table/incident", q); json.Valid(r.body) != tc.ok {
				t.Errorf("limit %q: valid=%v, want %v", tc.limit, json.Valid(r.body), tc.ok)
			}
		}
	})
}

func TestFaultScheduleIsDeterministic(t *testing.T) {
	run := func() []int {
		s, hs, _ := start(t, Options{Seed: 9, Incidents: 5})
		s.SetFaults(Faults{RateLimitEvery: 5, ServerErrorEvery: 3, HTMLEvery: 7, TruncateEvery: 4})
		var got []int
		for range 30 {
			r := get(t, hs, "/api/now/table/incident", nil)
			st := r.status
			if strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				st = -2
			} else if st == http.StatusOK && !json.Valid(r.body) {
				st = -1
			}
			got = append(got, st)
		}
		return got
	}
	a, b := run(), run()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different schedule (-a +b):\n%s", diff)
	}
	seen := map[int]bool{}
	for _, st := range a {
		seen[st] = true
	}
	for _, st := range []int{200, 429, -1, -2} {
		if !seen[st] {
			t.Errorf("schedule %v never produced %d", a, st)
		}
	}
}
